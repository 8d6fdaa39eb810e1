package cluster

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"
)

// Broker config keys read by this package (Kafka names).
const (
	cfgHeartbeatInterval  = "broker.heartbeat.interval.ms"
	cfgSessionTimeout     = "broker.session.timeout.ms"
	cfgDefaultRF          = "default.replication.factor"
	cfgNumPartitions      = "num.partitions"
	cfgUncleanElection    = "unclean.leader.election.enable"
	cfgAutoRebalance      = "auto.leader.rebalance.enable"
	cfgRebalanceInterval  = "leader.imbalance.check.interval.seconds"
	defaultHeartbeatMS    = 2000
	defaultSessionTimeout = 9000
)

// Raft timing for a cluster on one host or one LAN: a follower that hears
// nothing from the leader for 1 s (randomised up to 2 s) starts an
// election, and a leader that cannot reach a majority for 500 ms steps
// down. hashicorp/raft's defaults (1 s / 1 s / 500 ms) already fit; they
// are spelled out so a change is deliberate.
const (
	raftHeartbeatTimeout   = 1000 * time.Millisecond
	raftElectionTimeout    = 1000 * time.Millisecond
	raftLeaderLeaseTimeout = 500 * time.Millisecond
	raftCommitTimeout      = 20 * time.Millisecond
	raftTransportTimeout   = 5 * time.Second
)

// settings are the parsed broker configs the package uses.
type settings struct {
	heartbeat     time.Duration
	session       time.Duration
	defaultRF     int           // 0: min(3, unfenced brokers)
	numPartitions int32         // num.partitions
	rebalance     time.Duration // 0: auto.leader.rebalance.enable=false
}

// parseSettings reads cfg.Configs; every problem is named.
func parseSettings(configs map[string]string) (settings, error) {
	s := settings{heartbeat: defaultHeartbeatMS * time.Millisecond, session: defaultSessionTimeout * time.Millisecond, numPartitions: 1, rebalance: 300 * time.Second}
	var errs []error
	ms := func(key string, dst *time.Duration) {
		v, ok := configs[key]
		if !ok {
			return
		}
		n, err := strconv.ParseInt(v, 10, 32)
		if err != nil || n <= 0 {
			errs = append(errs, fmt.Errorf("%s: %q is not a positive number of milliseconds", key, v))
			return
		}
		*dst = time.Duration(n) * time.Millisecond
	}
	ms(cfgHeartbeatInterval, &s.heartbeat)
	ms(cfgSessionTimeout, &s.session)
	if v, ok := configs[cfgDefaultRF]; ok {
		n, err := strconv.ParseInt(v, 10, 16)
		if err != nil || n <= 0 {
			errs = append(errs, fmt.Errorf("%s: %q is not a positive integer", cfgDefaultRF, v))
		}
		s.defaultRF = int(n)
	}
	if v, ok := configs[cfgNumPartitions]; ok {
		n, err := strconv.ParseInt(v, 10, 32)
		if err != nil || n <= 0 {
			errs = append(errs, fmt.Errorf("%s: %q is not a positive integer", cfgNumPartitions, v))
		}
		s.numPartitions = int32(n)
	}
	if v, ok := configs[cfgUncleanElection]; ok && v != "true" && v != "false" {
		errs = append(errs, fmt.Errorf("%s: %q is not true or false", cfgUncleanElection, v))
	}
	if v, ok := configs[cfgRebalanceInterval]; ok {
		n, err := strconv.ParseInt(v, 10, 32)
		if err != nil || n <= 0 {
			errs = append(errs, fmt.Errorf("%s: %q is not a positive number of seconds", cfgRebalanceInterval, v))
		}
		s.rebalance = time.Duration(n) * time.Second
	}
	switch configs[cfgAutoRebalance] {
	case "", "true":
	case "false":
		s.rebalance = 0
	default:
		errs = append(errs, fmt.Errorf("%s: %q is not true or false", cfgAutoRebalance, configs[cfgAutoRebalance]))
	}
	if s.heartbeat >= s.session {
		errs = append(errs, fmt.Errorf("%s (%v) must be below %s (%v)", cfgHeartbeatInterval, s.heartbeat, cfgSessionTimeout, s.session))
	}
	return s, errors.Join(errs...)
}

// validate checks cfg; every problem is named.
func (cfg *Config) validate() error {
	var errs []error
	if cfg.NodeID <= 0 {
		errs = append(errs, fmt.Errorf("node id %d: must be positive", cfg.NodeID))
	}
	if cfg.Dir == "" {
		errs = append(errs, errors.New("dir: required"))
	}
	if cfg.ControllerListen == "" {
		errs = append(errs, errors.New("controller listen: required"))
	}
	if len(cfg.Quorum) == 0 {
		errs = append(errs, errors.New("quorum: required"))
	} else if !slices.ContainsFunc(cfg.Quorum, func(v Voter) bool { return v.ID == cfg.NodeID }) {
		errs = append(errs, fmt.Errorf("%w: node %d is not in %v", ErrNotInQuorum, cfg.NodeID, cfg.Quorum))
	}
	return errors.Join(errs...)
}

// voterAddr returns the controller address of voter id.
func (cfg *Config) voterAddr(id int32) (string, bool) {
	for _, v := range cfg.Quorum {
		if v.ID == id {
			return v.Addr, true
		}
	}
	return "", false
}
