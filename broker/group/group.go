package group

import (
	"slices"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// State is a classic group's state, named as Kafka names it on the wire.
type State int8

// The states of a classic group (see DESIGN.md for the transitions).
const (
	StateEmpty State = iota
	StatePreparingRebalance
	StateCompletingRebalance
	StateStable
	StateDead
)

var stateNames = [...]string{"Empty", "PreparingRebalance", "CompletingRebalance", "Stable", "Dead"}

func (s State) String() string {
	if s < 0 || int(s) >= len(stateNames) {
		return "Unknown"
	}
	return stateNames[s]
}

// protocolPref is one protocol a member supports, in its preference order.
type protocolPref struct {
	name     string
	metadata []byte
}

type member struct {
	id               string
	instanceID       *string
	clientID         string
	clientHost       string
	sessionTimeout   time.Duration
	rebalanceTimeout time.Duration
	protocolType     string
	protocols        []protocolPref
	assignment       []byte

	// joinWaiter/syncWaiter are non-nil while a JoinGroup/SyncGroup request
	// waits for the rebalance; each is buffered (1) and sent to at most once.
	joinWaiter chan joinResult
	syncWaiter chan syncResult
	// heartbeatDeadline is when the session expires if no request arrives.
	heartbeatDeadline time.Time
	// isNew marks a member added in the running join phase (KIP-394): it
	// cannot heartbeat, so instead of the session it gets
	// newMemberJoinTimeout to be answered; a client that gave up and
	// retried must not leave it behind forever.
	isNew bool
}

func (m *member) metadataFor(protocol string) []byte {
	for _, p := range m.protocols {
		if p.name == protocol {
			return p.metadata
		}
	}
	return nil
}

// sameProtocols reports whether the member already joined with exactly these
// protocols (names, order and metadata).
func (m *member) sameProtocols(ps []protocolPref) bool {
	return slices.EqualFunc(m.protocols, ps, func(a, b protocolPref) bool {
		return a.name == b.name && string(a.metadata) == string(b.metadata)
	})
}

func (m *member) awaiting() bool { return m.joinWaiter != nil || m.syncWaiter != nil }

// keptAlive reports whether the session deadline does not apply now: a
// member waiting on a JoinGroup or SyncGroup response is kept, unless it is
// new (see isNew).
func (m *member) keptAlive() bool { return m.awaiting() && !m.isNew }

type partitionKey struct {
	topic     string
	partition int32
}

// Offset is a committed offset as the coordinator keeps it.
type Offset struct {
	Offset      int64
	LeaderEpoch int32 // -1 when unknown
	Metadata    string
	CommitTime  time.Time
	// ExpireTime is set when an OffsetCommit v2-v4 asked for its own
	// retention; zero means the broker's offsets.retention applies.
	ExpireTime time.Time
}

type group struct {
	mu sync.Mutex

	id             string
	state          State
	stateSince     time.Time
	protocolType   string
	protocol       string // selected protocol; "" when none
	generation     int32
	leader         string
	members        map[string]*member
	staticMembers  map[string]string    // instance id -> member id
	pendingMembers map[string]time.Time // member ids handed out by MEMBER_ID_REQUIRED -> expiry
	pendingSync    map[string]bool      // members that have not sent SyncGroup for this generation

	newMemberAdded    bool
	rebalanceDeadline time.Time // PreparingRebalance: when the join phase ends
	initialDelay      bool      // the join phase is Kafka's delayed initial join
	delayRemaining    time.Duration
	syncDeadline      time.Time // when members in pendingSync are removed

	offsets map[partitionKey]Offset
	// dirty and nextDue let Run skip groups with nothing due: nextDue is
	// the earliest deadline Run computed (zero: none), dirty is set by every
	// request that may have made a deadline earlier (join, sync, leave).
	// A deadline that moved later (a heartbeat) only costs a useless visit.
	dirty   bool
	nextDue time.Time
	// metaDeleted is set while loading when the last group record was a
	// tombstone: a group left with no offsets is then not recreated.
	metaDeleted bool
}

func newGroup(id string, now time.Time) *group {
	return &group{
		id:             id,
		state:          StateEmpty,
		stateSince:     now,
		members:        map[string]*member{},
		staticMembers:  map[string]string{},
		pendingMembers: map[string]time.Time{},
		pendingSync:    map[string]bool{},
		offsets:        map[partitionKey]Offset{},
		dirty:          true,
	}
}

// rebalanceTimeoutLocked is the largest rebalance timeout of the members, as Kafka.
func (g *group) rebalanceTimeoutLocked() time.Duration {
	var d time.Duration
	for _, m := range g.members {
		d = max(d, m.rebalanceTimeout)
	}
	return d
}

// supportsProtocolsLocked reports whether a member with these protocols may
// join: the first member sets the protocol type; later ones must share it and
// support at least one protocol every current member supports.
//
// The joining member itself (memberID, "" when new) is left out of the check,
// so a sole member may switch protocols.
func (g *group) supportsProtocolsLocked(memberID, protocolType string, ps []protocolPref) bool {
	if protocolType == "" || len(ps) == 0 {
		return false
	}
	others := len(g.members)
	if _, ok := g.members[memberID]; ok {
		others--
	}
	if others == 0 {
		return true
	}
	if protocolType != g.protocolType {
		return false
	}
	for _, p := range ps {
		all := true
		for id, m := range g.members {
			if id != memberID && !hasProtocol(m.protocols, p.name) {
				all = false
				break
			}
		}
		if all {
			return true
		}
	}
	return false
}

func hasProtocol(ps []protocolPref, name string) bool {
	return slices.ContainsFunc(ps, func(p protocolPref) bool { return p.name == name })
}

// selectProtocolLocked picks the protocol for the next generation like Kafka:
// among protocols every member supports, each member votes for the first one
// in its own preference list, and the most votes win. Ties go to the leader's
// preference order.
func (g *group) selectProtocolLocked() string {
	var candidates []string
	var order []protocolPref
	if l := g.members[g.leader]; l != nil {
		order = l.protocols
	} else {
		for _, m := range g.members {
			order = m.protocols
			break
		}
	}
	for _, p := range order {
		all := true
		for _, m := range g.members {
			if !hasProtocol(m.protocols, p.name) {
				all = false
				break
			}
		}
		if all {
			candidates = append(candidates, p.name)
		}
	}
	if len(candidates) == 0 {
		return ""
	}
	votes := map[string]int{}
	for _, m := range g.members {
		for _, p := range m.protocols {
			if slices.Contains(candidates, p.name) {
				votes[p.name]++
				break
			}
		}
	}
	best := candidates[0]
	for _, c := range candidates[1:] {
		if votes[c] > votes[best] {
			best = c
		}
	}
	return best
}

// metadataValueLocked is the group's __consumer_offsets value: the state a
// restarted coordinator resumes from.
func (g *group) metadataValueLocked(now time.Time) []byte {
	v := kmsg.NewGroupMetadataValue()
	v.Version = groupValueVersion
	v.ProtocolType = g.protocolType
	v.Generation = g.generation
	if g.protocol != "" {
		p := g.protocol
		v.Protocol = &p
	}
	if g.leader != "" {
		l := g.leader
		v.Leader = &l
	}
	v.CurrentStateTimestamp = now.UnixMilli()
	ids := make([]string, 0, len(g.members))
	for id := range g.members {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	for _, id := range ids {
		m := g.members[id]
		mv := kmsg.NewGroupMetadataValueMember()
		mv.MemberID = m.id
		mv.InstanceID = m.instanceID
		mv.ClientID = m.clientID
		mv.ClientHost = m.clientHost
		mv.RebalanceTimeoutMillis = int32(m.rebalanceTimeout / time.Millisecond)
		mv.SessionTimeoutMillis = int32(m.sessionTimeout / time.Millisecond)
		mv.Subscription = m.metadataFor(g.protocol)
		if mv.Subscription == nil {
			mv.Subscription = []byte{}
		}
		mv.Assignment = m.assignment
		if mv.Assignment == nil {
			mv.Assignment = []byte{}
		}
		v.Members = append(v.Members, mv)
	}
	return v.AppendTo(nil)
}

// subscribedTopicsLocked is the union of the topics the members subscribe to,
// decoded from the consumer protocol metadata; ok is false when the group does
// not use the consumer protocol.
func (g *group) subscribedTopicsLocked() (map[string]bool, bool) {
	if g.protocolType != "consumer" {
		return nil, false
	}
	topics := map[string]bool{}
	for _, m := range g.members {
		var meta kmsg.ConsumerMemberMetadata
		if err := meta.ReadFrom(m.metadataFor(g.protocol)); err != nil {
			continue
		}
		for _, t := range meta.Topics {
			topics[t] = true
		}
	}
	return topics, true
}
