package group

import (
	"cmp"
	"context"
	"slices"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// Summary is one group as ListGroups shows it.
type Summary struct {
	Group        string
	ProtocolType string
	State        State
}

// Description is a group as kafka-consumer-groups --describe shows it.
type Description struct {
	Group        string
	State        State
	ProtocolType string
	Protocol     string // selected protocol (assignor); "" outside a generation
	Generation   int32
	Leader       string
	Members      []MemberDescription // sorted by member id
}

// MemberDescription is one member of a Description.
type MemberDescription struct {
	MemberID   string
	InstanceID string // group.instance.id; "" for dynamic members
	ClientID   string
	ClientHost string
	Metadata   []byte // the member's metadata for the selected protocol
	Assignment []byte // raw assignment bytes from the leader
	// Partitions is Assignment decoded when the protocol type is
	// "consumer" (nil otherwise or if it does not decode).
	Partitions []TopicPartitions
}

// TopicPartitions is a topic and some of its partitions.
type TopicPartitions struct {
	Topic      string
	Partitions []int32
}

// Groups lists every live group, sorted by name. Before Run loaded the
// store it returns nil.
func (c *Coordinator) Groups() []Summary {
	if !c.isLoaded() {
		return nil
	}
	var out []Summary
	for _, g := range c.snapshot() {
		g.mu.Lock()
		if g.state != StateDead {
			out = append(out, Summary{Group: g.id, ProtocolType: g.protocolType, State: g.state})
		}
		g.mu.Unlock()
	}
	slices.SortFunc(out, func(a, b Summary) int { return cmp.Compare(a.Group, b.Group) })
	return out
}

// Describe returns a copy of the group's state, or ErrUnknownGroup, or
// ErrLoading before Run loaded the store. Returned slices are the caller's.
func (c *Coordinator) Describe(groupID string) (Description, error) {
	if !c.isLoaded() {
		return Description{}, ErrLoading
	}
	g := c.getGroup(groupID)
	if g == nil {
		return Description{}, ErrUnknownGroup
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.state == StateDead {
		return Description{}, ErrUnknownGroup
	}
	d := Description{
		Group: g.id, State: g.state, ProtocolType: g.protocolType, Protocol: g.protocol,
		Generation: g.generation, Leader: g.leader,
	}
	for _, id := range sortedKeys(g.members) {
		m := g.members[id]
		md := MemberDescription{
			MemberID: id, ClientID: m.clientID, ClientHost: m.clientHost,
			Metadata:   slices.Clone(m.metadataFor(g.protocol)),
			Assignment: slices.Clone(m.assignment),
		}
		if m.instanceID != nil {
			md.InstanceID = *m.instanceID
		}
		if g.protocolType == "consumer" && len(m.assignment) > 0 {
			var a kmsg.ConsumerMemberAssignment
			if a.ReadFrom(m.assignment) == nil {
				for _, t := range a.Topics {
					md.Partitions = append(md.Partitions, TopicPartitions{Topic: t.Topic, Partitions: slices.Clone(t.Partitions)})
				}
			}
		}
		d.Members = append(d.Members, md)
	}
	return d, nil
}

// CommittedOffsets returns a copy of the group's committed offsets by topic
// and partition, or ErrUnknownGroup, or ErrLoading.
func (c *Coordinator) CommittedOffsets(groupID string) (map[string]map[int32]Offset, error) {
	if !c.isLoaded() {
		return nil, ErrLoading
	}
	g := c.getGroup(groupID)
	if g == nil {
		return nil, ErrUnknownGroup
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.state == StateDead {
		return nil, ErrUnknownGroup
	}
	out := map[string]map[int32]Offset{}
	for k, o := range g.offsets {
		if out[k.topic] == nil {
			out[k.topic] = map[int32]Offset{}
		}
		out[k.topic][k.partition] = o
	}
	return out, nil
}

// load replays the store into memory; groups with members resume Stable,
// their sessions restarting now.
func (c *Coordinator) load(ctx context.Context) error {
	now := time.Now()
	c.mu.Lock()
	defer c.mu.Unlock()
	get := func(id string) *group {
		g := c.groups[id]
		if g == nil {
			g = newGroup(id, now)
			c.groups[id] = g
		}
		return g
	}
	records := 0
	err := c.store.Load(ctx, func(r Record) error {
		records++
		d, ok, err := decodeRecord(r)
		if err != nil {
			c.metrics.skippedRecords.Inc()
			c.log.Warn("skipping undecodable __consumer_offsets record", "err", err)
			return nil
		}
		if !ok {
			return nil
		}
		if k := d.offsetKey; k != nil {
			g := get(k.Group)
			pk := partitionKey{k.Topic, k.Partition}
			if d.offsetVal == nil {
				delete(g.offsets, pk)
				return nil
			}
			g.offsets[pk] = offsetFromValue(d.offsetVal)
			return nil
		}
		g := get(d.groupKey.Group)
		applyGroupValue(g, d.groupVal, now)
		return nil
	})
	if err != nil {
		return err
	}
	for id, g := range c.groups {
		if g.metaDeleted && len(g.offsets) == 0 {
			delete(c.groups, id)
			continue
		}
		c.metrics.groups.WithLabelValues(g.state.String()).Inc()
		if len(g.members) > c.cfg.MaxGroupSize {
			// As Kafka: a group loaded over group.max.size rebalances, and
			// the members past the limit are refused when they rejoin.
			g.mu.Lock()
			c.prepareRebalanceLocked(g, now, "loaded over group.max.size")
			g.mu.Unlock()
		}
	}
	c.log.Debug("replayed __consumer_offsets", "records", records)
	return nil
}

// applyGroupValue sets g from a GroupMetadataValue (nil: tombstone).
func applyGroupValue(g *group, v *kmsg.GroupMetadataValue, now time.Time) {
	clear(g.members)
	clear(g.staticMembers)
	g.protocolType, g.protocol, g.leader, g.generation = "", "", "", 0
	g.state, g.stateSince = StateEmpty, now
	g.metaDeleted = v == nil
	if v == nil {
		return
	}
	g.protocolType, g.generation = v.ProtocolType, v.Generation
	if v.Protocol != nil {
		g.protocol = *v.Protocol
	}
	if v.Leader != nil {
		g.leader = *v.Leader
	}
	if v.CurrentStateTimestamp > 0 {
		g.stateSince = time.UnixMilli(v.CurrentStateTimestamp)
	}
	for _, mv := range v.Members {
		session := ms(mv.SessionTimeoutMillis)
		rebalance := ms(mv.RebalanceTimeoutMillis)
		if rebalance <= 0 {
			rebalance = session
		}
		m := &member{
			id: mv.MemberID, clientID: mv.ClientID, clientHost: mv.ClientHost,
			sessionTimeout: session, rebalanceTimeout: rebalance, protocolType: v.ProtocolType,
			protocols:         []protocolPref{{name: g.protocol, metadata: slices.Clone(mv.Subscription)}},
			assignment:        slices.Clone(mv.Assignment), // the store may reuse its buffers
			heartbeatDeadline: now.Add(session),
		}
		if mv.InstanceID != nil {
			iid := *mv.InstanceID
			m.instanceID = &iid
			g.staticMembers[iid] = m.id
		}
		g.members[m.id] = m
	}
	if len(g.members) > 0 {
		g.state, g.stateSince = StateStable, now
		if g.members[g.leader] == nil {
			g.leader = sortedKeys(g.members)[0]
		}
	}
}
