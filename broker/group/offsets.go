package group

import (
	"cmp"
	"context"
	"slices"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// offsetCommit serves OffsetCommit v0-v10. Generation -1 with no member id is
// a "simple" commit (admin tools, assign-mode consumers), accepted while the
// group is Empty; a member's commit must name the current generation.
func (c *Coordinator) offsetCommit(ctx context.Context, req *kmsg.OffsetCommitRequest) kmsg.Response {
	resp := req.ResponseKind().(*kmsg.OffsetCommitResponse)
	gen, memberID, instanceID := req.Generation, req.MemberID, req.InstanceID
	if req.Version == 0 {
		gen, memberID = -1, ""
	}
	if req.Version < 7 {
		instanceID = nil
	}
	// One response partition per request partition, in request order.
	type pending struct {
		code *int16
		key  partitionKey
		off  Offset
	}
	var todo []pending
	now := time.Now()
	for _, t := range req.Topics {
		rt := kmsg.NewOffsetCommitResponseTopic()
		rt.Topic, rt.TopicID = t.Topic, t.TopicID
		name, nameOK := t.Topic, true
		if req.Version >= 10 {
			name, nameOK = c.topicName(t.TopicID)
		}
		for _, p := range t.Partitions {
			rp := kmsg.NewOffsetCommitResponseTopicPartition()
			rp.Partition = p.Partition
			rt.Partitions = append(rt.Partitions, rp)
		}
		for i, p := range t.Partitions {
			code := &rt.Partitions[i].ErrorCode
			meta := ""
			if p.Metadata != nil {
				meta = *p.Metadata
			}
			epoch := p.LeaderEpoch
			if req.Version < 6 {
				epoch = -1
			}
			switch {
			case !nameOK:
				*code = kerr.UnknownTopicID.Code
			case len(meta) > c.cfg.MaxMetadataSize:
				*code = kerr.OffsetMetadataTooLarge.Code
			case c.topics != nil && !c.topics.PartitionExists(name, p.Partition):
				*code = kerr.UnknownTopicOrPartition.Code
			default:
				off := Offset{Offset: p.Offset, LeaderEpoch: epoch, Metadata: meta, CommitTime: now}
				if req.Version >= 2 && req.Version <= 4 && req.RetentionTimeMillis >= 0 {
					off.ExpireTime = now.Add(ms64(req.RetentionTimeMillis))
				}
				todo = append(todo, pending{key: partitionKey{name, p.Partition}, off: off})
			}
		}
		resp.Topics = append(resp.Topics, rt)
	}
	// Pointers into resp are stable now that every topic was appended.
	i := 0
	for ti := range resp.Topics {
		for pi := range resp.Topics[ti].Partitions {
			if resp.Topics[ti].Partitions[pi].ErrorCode == 0 {
				todo[i].code = &resp.Topics[ti].Partitions[pi].ErrorCode
				i++
			}
		}
	}
	setAll := func(code int16) {
		for _, p := range todo {
			*p.code = code
		}
	}
	if code := c.unavailable(); code != 0 {
		setAll(code)
		return resp
	}
	// An empty group id is accepted, as Kafka does for old admin tools.
	if len(todo) == 0 {
		return resp
	}
	g := c.getGroup(req.Group)
	if g == nil {
		if gen >= 0 {
			setAll(kerr.IllegalGeneration.Code)
			return resp
		}
		g = c.getOrCreateGroup(req.Group)
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if code := g.commitCheckLocked(gen, memberID, instanceID, now); code != 0 {
		setAll(code)
		return resp
	}
	recs := make([]Record, 0, len(todo))
	for _, p := range todo {
		recs = append(recs, Record{Key: offsetKey(g.id, p.key.topic, p.key.partition), Value: offsetValue(p.off)})
	}
	if err := c.appendLocked(ctx, g, recs); err != nil {
		setAll(storeErrCode(err))
		return resp
	}
	// Invariant: memory changes only after the durable write.
	for _, p := range todo {
		g.offsets[p.key] = p.off
	}
	c.metrics.commits.Add(float64(len(todo)))
	return resp
}

// commitCheckLocked decides whether a commit is allowed, as Kafka does.
func (g *group) commitCheckLocked(gen int32, memberID string, instanceID *string, now time.Time) int16 {
	if g.state == StateDead {
		return kerr.CoordinatorNotAvailable.Code
	}
	if gen < 0 && g.state == StateEmpty {
		return 0 // the group only uses Kafka to store offsets
	}
	if code := g.checkMemberLocked(memberID, instanceID, true); code != 0 {
		return code
	}
	if gen != g.generation {
		return kerr.IllegalGeneration.Code
	}
	if g.state == StateCompletingRebalance {
		// The member has its new generation but not yet its assignment.
		return kerr.RebalanceInProgress.Code
	}
	m := g.members[memberID]
	m.heartbeatDeadline = now.Add(m.sessionTimeout)
	return 0
}

func ms64(v int64) time.Duration { return time.Duration(v) * time.Millisecond }

func (c *Coordinator) topicName(id [16]byte) (string, bool) {
	if c.topics == nil {
		return "", false
	}
	return c.topics.TopicName(id)
}

// fetchTopic is one topic of an OffsetFetch, in the shape of every version.
type fetchTopic struct {
	name       string
	id         [16]byte
	partitions []int32
}

type fetchPartition struct {
	partition int32
	off       Offset
	found     bool
	code      int16
}

type fetchedTopic struct {
	name       string
	id         [16]byte
	partitions []fetchPartition
}

// offsetFetch serves OffsetFetch v0-v10: one group (v0-v7) or many (v8+);
// null topics (v2+) mean every committed partition.
func (c *Coordinator) offsetFetch(req *kmsg.OffsetFetchRequest) kmsg.Response {
	resp := req.ResponseKind().(*kmsg.OffsetFetchResponse)
	if req.Version < 8 {
		topics := make([]fetchTopic, 0, len(req.Topics))
		for _, t := range req.Topics {
			topics = append(topics, fetchTopic{name: t.Topic, partitions: t.Partitions})
		}
		code, out := c.fetchGroup(req.Group, topics, req.Topics == nil && req.Version >= 2, false)
		if code != 0 && req.Version >= 2 {
			resp.ErrorCode = code
			return resp
		}
		if code != 0 { // v0-v1 carry errors per partition only
			out = failedFetch(topics, code)
		}
		for _, t := range out {
			rt := kmsg.NewOffsetFetchResponseTopic()
			rt.Topic = t.name
			for _, p := range t.partitions {
				rp := kmsg.NewOffsetFetchResponseTopicPartition()
				rp.Partition, rp.ErrorCode = p.partition, p.code
				rp.Offset, rp.LeaderEpoch, rp.Metadata = fetchedValues(p)
				rt.Partitions = append(rt.Partitions, rp)
			}
			resp.Topics = append(resp.Topics, rt)
		}
		return resp
	}
	for _, rg := range req.Groups {
		topics := make([]fetchTopic, 0, len(rg.Topics))
		for _, t := range rg.Topics {
			topics = append(topics, fetchTopic{name: t.Topic, id: t.TopicID, partitions: t.Partitions})
		}
		code, out := c.fetchGroup(rg.Group, topics, rg.Topics == nil, req.Version >= 10)
		g := kmsg.NewOffsetFetchResponseGroup()
		g.Group, g.ErrorCode = rg.Group, code
		for _, t := range out {
			rt := kmsg.NewOffsetFetchResponseGroupTopic()
			rt.Topic, rt.TopicID = t.name, t.id
			for _, p := range t.partitions {
				rp := kmsg.NewOffsetFetchResponseGroupTopicPartition()
				rp.Partition, rp.ErrorCode = p.partition, p.code
				rp.Offset, rp.LeaderEpoch, rp.Metadata = fetchedValues(p)
				rt.Partitions = append(rt.Partitions, rp)
			}
			g.Topics = append(g.Topics, rt)
		}
		resp.Groups = append(resp.Groups, g)
	}
	return resp
}

func fetchedValues(p fetchPartition) (int64, int32, *string) {
	if !p.found {
		empty := ""
		return -1, -1, &empty
	}
	meta := p.off.Metadata
	return p.off.Offset, p.off.LeaderEpoch, &meta
}

func failedFetch(topics []fetchTopic, code int16) []fetchedTopic {
	out := make([]fetchedTopic, 0, len(topics))
	for _, t := range topics {
		ft := fetchedTopic{name: t.name, id: t.id}
		for _, p := range t.partitions {
			ft.partitions = append(ft.partitions, fetchPartition{partition: p, code: code})
		}
		out = append(out, ft)
	}
	return out
}

// fetchGroup reads one group's committed offsets. byID resolves topic IDs
// (v10). A group-level error comes back as code with no topics.
func (c *Coordinator) fetchGroup(groupID string, topics []fetchTopic, all, byID bool) (int16, []fetchedTopic) {
	if code := c.unavailable(); code != 0 {
		return code, nil
	}
	g := c.getGroup(groupID) // "" included, as in Kafka
	if g == nil {
		g = newGroup(groupID, time.Time{}) // no offsets: every partition answers -1
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	offsets := g.offsets
	if g.state == StateDead {
		offsets = nil
	}
	if all {
		byTopic := map[string][]fetchPartition{}
		for k, v := range offsets {
			byTopic[k.topic] = append(byTopic[k.topic], fetchPartition{partition: k.partition, off: v, found: true})
		}
		out := make([]fetchedTopic, 0, len(byTopic))
		for _, name := range sortedKeys(byTopic) {
			ft := fetchedTopic{name: name, partitions: byTopic[name]}
			if byID {
				id, ok := c.topicID(name)
				if !ok {
					continue // a v10 client cannot name a topic without an ID
				}
				ft.id = id
			}
			slices.SortFunc(ft.partitions, func(a, b fetchPartition) int { return cmp.Compare(a.partition, b.partition) })
			out = append(out, ft)
		}
		return 0, out
	}
	out := make([]fetchedTopic, 0, len(topics))
	for _, t := range topics {
		ft := fetchedTopic{name: t.name, id: t.id}
		name, ok := t.name, true
		if byID {
			name, ok = c.topicName(t.id)
		}
		for _, p := range t.partitions {
			fp := fetchPartition{partition: p}
			if !ok {
				fp.code = kerr.UnknownTopicID.Code
			} else {
				fp.off, fp.found = offsets[partitionKey{name, p}]
			}
			ft.partitions = append(ft.partitions, fp)
		}
		out = append(out, ft)
	}
	return 0, out
}

func (c *Coordinator) topicID(name string) ([16]byte, bool) {
	if c.topics == nil {
		return [16]byte{}, false
	}
	return c.topics.TopicID(name)
}

// offsetDelete serves OffsetDelete v0: an Empty group's offsets, or those of
// topics a consumer group is not subscribed to.
func (c *Coordinator) offsetDelete(ctx context.Context, req *kmsg.OffsetDeleteRequest) kmsg.Response {
	resp := req.ResponseKind().(*kmsg.OffsetDeleteResponse)
	top := func(code int16) kmsg.Response { resp.ErrorCode = code; return resp }
	if code := c.unavailable(); code != 0 {
		return top(code)
	}
	if req.Group == "" {
		return top(kerr.InvalidGroupID.Code)
	}
	g := c.getGroup(req.Group)
	if g == nil {
		return top(kerr.GroupIDNotFound.Code)
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.state == StateDead {
		return top(kerr.GroupIDNotFound.Code)
	}
	var subscribed map[string]bool
	if g.state != StateEmpty {
		var ok bool
		if subscribed, ok = g.subscribedTopicsLocked(); !ok {
			return top(kerr.NonEmptyGroup.Code)
		}
	}
	var recs []Record
	var deleted []partitionKey
	for _, t := range req.Topics {
		rt := kmsg.NewOffsetDeleteResponseTopic()
		rt.Topic = t.Topic
		for _, p := range t.Partitions {
			rp := kmsg.NewOffsetDeleteResponseTopicPartition()
			rp.Partition = p.Partition
			k := partitionKey{t.Topic, p.Partition}
			switch _, has := g.offsets[k]; {
			case subscribed[t.Topic]:
				rp.ErrorCode = kerr.GroupSubscribedToTopic.Code
			case has:
				recs = append(recs, Record{Key: offsetKey(g.id, k.topic, k.partition)})
				deleted = append(deleted, k)
			}
			rt.Partitions = append(rt.Partitions, rp)
		}
		resp.Topics = append(resp.Topics, rt)
	}
	if err := c.appendLocked(ctx, g, recs); err != nil {
		return top(storeErrCode(err))
	}
	for _, k := range deleted {
		delete(g.offsets, k)
	}
	return resp
}

// expireOffsets drops offsets of Empty groups older than the retention and
// removes Empty groups left with no offsets, writing tombstones for both.
func (c *Coordinator) expireOffsets(ctx context.Context, now time.Time) {
	var dead []*group
	for _, g := range c.snapshot() {
		g.mu.Lock()
		if c.expireGroupLocked(ctx, g, now) {
			dead = append(dead, g)
		}
		g.mu.Unlock()
	}
	for _, g := range dead {
		c.removeGroup(g)
	}
}

// expireGroupLocked drops g's expired offsets, as Kafka: in an Empty group
// every offset older than the retention (counted from the later of the
// commit and the group becoming Empty); in a consumer group that is Stable,
// those of topics no member subscribes to; an offset committed with its own
// retention expires at its ExpireTime. It reports whether g became Dead (Empty
// with no offsets left).
func (c *Coordinator) expireGroupLocked(ctx context.Context, g *group, now time.Time) bool {
	var subscribed map[string]bool
	switch {
	case g.state == StateEmpty:
		if len(g.pendingMembers) > 0 {
			return false
		}
	case g.state == StateStable:
		var ok bool
		if subscribed, ok = g.subscribedTopicsLocked(); !ok {
			return false
		}
	default:
		return false
	}
	var recs []Record
	var expired []partitionKey
	for k, o := range g.offsets {
		if subscribed[k.topic] {
			continue
		}
		deadline := o.ExpireTime
		if deadline.IsZero() {
			base := o.CommitTime
			if g.state == StateEmpty && g.stateSince.After(base) {
				base = g.stateSince
			}
			deadline = base.Add(c.cfg.OffsetsRetention)
		}
		if !now.Before(deadline) {
			recs = append(recs, Record{Key: offsetKey(g.id, k.topic, k.partition)})
			expired = append(expired, k)
		}
	}
	becomesDead := g.state == StateEmpty && len(expired) == len(g.offsets)
	if becomesDead {
		recs = append(recs, Record{Key: groupKey(g.id)})
	}
	if err := c.appendLocked(ctx, g, recs); err != nil {
		return false // retried at the next check
	}
	for _, k := range expired {
		delete(g.offsets, k)
	}
	if len(expired) > 0 {
		c.log.Info("offsets expired", "group", g.id, "partitions", len(expired))
	}
	if becomesDead {
		c.setStateLocked(g, StateDead, now)
	}
	return becomesDead
}
