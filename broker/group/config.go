package group

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Config holds the broker settings the coordinator obeys, named after Kafka's.
type Config struct {
	MinSessionTimeout     time.Duration // group.min.session.timeout.ms
	MaxSessionTimeout     time.Duration // group.max.session.timeout.ms
	InitialRebalanceDelay time.Duration // group.initial.rebalance.delay.ms; 0 disables the delay
	MaxGroupSize          int           // group.max.size
	OffsetsRetention      time.Duration // offsets.retention.minutes
	RetentionCheckEvery   time.Duration // offsets.retention.check.interval.ms
	MaxMetadataSize       int           // offset.metadata.max.bytes
}

// DefaultConfig returns Kafka's defaults.
func DefaultConfig() Config {
	return Config{
		MinSessionTimeout:     6 * time.Second,
		MaxSessionTimeout:     30 * time.Minute,
		InitialRebalanceDelay: 3 * time.Second,
		MaxGroupSize:          math.MaxInt32,
		OffsetsRetention:      7 * 24 * time.Hour,
		RetentionCheckEvery:   10 * time.Minute,
		MaxMetadataSize:       4096,
	}
}

// Validate reports every inconsistent setting.
func (c Config) Validate() error {
	var errs []error
	if c.MinSessionTimeout <= 0 {
		errs = append(errs, errors.New("group.min.session.timeout.ms: must be positive"))
	}
	if c.MaxSessionTimeout < c.MinSessionTimeout {
		errs = append(errs, errors.New("group.max.session.timeout.ms: must be >= group.min.session.timeout.ms"))
	}
	if c.InitialRebalanceDelay < 0 {
		errs = append(errs, errors.New("group.initial.rebalance.delay.ms: must not be negative"))
	}
	if c.MaxGroupSize < 1 {
		errs = append(errs, errors.New("group.max.size: must be at least 1"))
	}
	if c.OffsetsRetention <= 0 {
		errs = append(errs, errors.New("offsets.retention.minutes: must be positive"))
	}
	if c.RetentionCheckEvery <= 0 {
		errs = append(errs, errors.New("offsets.retention.check.interval.ms: must be positive"))
	}
	if c.MaxMetadataSize < 0 {
		errs = append(errs, errors.New("offset.metadata.max.bytes: must not be negative"))
	}
	return errors.Join(errs...)
}

// configKeys are the Kafka broker configs (server.properties names) the
// coordinator reads, with how each sets Config.
var configKeys = map[string]func(*Config, int64){
	"group.min.session.timeout.ms":        func(c *Config, v int64) { c.MinSessionTimeout = time.Duration(v) * time.Millisecond },
	"group.max.session.timeout.ms":        func(c *Config, v int64) { c.MaxSessionTimeout = time.Duration(v) * time.Millisecond },
	"group.initial.rebalance.delay.ms":    func(c *Config, v int64) { c.InitialRebalanceDelay = time.Duration(v) * time.Millisecond },
	"group.max.size":                      func(c *Config, v int64) { c.MaxGroupSize = int(v) },
	"offsets.retention.minutes":           func(c *Config, v int64) { c.OffsetsRetention = time.Duration(v) * time.Minute },
	"offsets.retention.check.interval.ms": func(c *Config, v int64) { c.RetentionCheckEvery = time.Duration(v) * time.Millisecond },
	"offset.metadata.max.bytes":           func(c *Config, v int64) { c.MaxMetadataSize = int(v) },
}

// ignoredPrefixes are Kafka configs a server.properties may carry that do
// not concern the classic coordinator (the offsets topic's own settings,
// KIP-848/share/streams groups): accepted and not used here.
var ignoredPrefixes = []string{
	"offsets.topic.", "offsets.commit.", "offsets.load.",
	"group.coordinator.", "group.consumer.", "group.share.", "group.streams.",
}

// ConfigFromKafka returns DefaultConfig with every group.* and offsets.*
// key of configs (Kafka broker config names, e.g. from --config k=v)
// applied, plus offset.metadata.max.bytes; other keys are left to their
// owners. An unknown group.*/offsets.* key, a value that is not an integer
// or a result that does not Validate is an error naming the key.
func ConfigFromKafka(configs map[string]string) (Config, error) {
	cfg := DefaultConfig()
	var errs []error
	keys := make([]string, 0, len(configs))
	for k := range configs {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		set, ok := configKeys[k]
		if !ok {
			if (strings.HasPrefix(k, "group.") || strings.HasPrefix(k, "offsets.")) &&
				!slices.ContainsFunc(ignoredPrefixes, func(p string) bool { return strings.HasPrefix(k, p) }) {
				errs = append(errs, fmt.Errorf("%s: unknown group coordinator config", k))
			}
			continue
		}
		v, err := strconv.ParseInt(strings.TrimSpace(configs[k]), 10, 64)
		if err != nil || v < 0 || v > math.MaxInt32*int64(1000) {
			errs = append(errs, fmt.Errorf("%s: %q is not a valid number", k, configs[k]))
			continue
		}
		set(&cfg, v)
	}
	if err := errors.Join(errs...); err != nil {
		return cfg, err
	}
	return cfg, cfg.Validate()
}
