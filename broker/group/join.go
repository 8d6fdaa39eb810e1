package group

import (
	"context"
	"slices"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// newMemberJoinTimeout is how long a member added in a join phase may wait
// for its JoinGroup response before it is dropped (Kafka's constant).
const newMemberJoinTimeout = 5 * time.Minute

// joinResult is what a JoinGroup waiter receives.
type joinResult struct {
	errCode      int16
	generation   int32
	protocolType string
	protocol     string
	leader       string
	memberID     string
	members      []kmsg.JoinGroupResponseMember // leader only
	skip         bool                           // v9 SkipAssignment
}

func joinErr(memberID string, code int16) joinResult {
	return joinResult{errCode: code, generation: -1, memberID: memberID}
}

func ms(v int32) time.Duration { return time.Duration(v) * time.Millisecond }

// joinGroup serves JoinGroup v0-v9.
func (c *Coordinator) joinGroup(ctx context.Context, req *kmsg.JoinGroupRequest) (kmsg.Response, error) {
	res, wait := c.join(ctx, req)
	if wait != nil {
		select {
		case res = <-wait:
		case <-c.stopped:
			res = joinErr(req.MemberID, kerr.NotCoordinator.Code)
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	resp := req.ResponseKind().(*kmsg.JoinGroupResponse)
	resp.ErrorCode = res.errCode
	resp.Generation = res.generation
	if req.Version >= 7 && res.protocolType != "" {
		pt := res.protocolType
		resp.ProtocolType = &pt
	}
	if res.protocol != "" || req.Version < 7 {
		p := res.protocol
		resp.Protocol = &p
	}
	resp.LeaderID = res.leader
	resp.MemberID = res.memberID
	resp.Members = res.members
	resp.SkipAssignment = res.skip && req.Version >= 9
	return resp, nil
}

// join runs the JoinGroup state machine. It returns either an immediate
// result, or a channel the result will be sent on.
func (c *Coordinator) join(ctx context.Context, req *kmsg.JoinGroupRequest) (joinResult, chan joinResult) {
	if code := c.unavailable(); code != 0 {
		return joinErr(req.MemberID, code), nil
	}
	if req.Group == "" {
		return joinErr(req.MemberID, kerr.InvalidGroupID.Code), nil
	}
	session := ms(req.SessionTimeoutMillis)
	if session < c.cfg.MinSessionTimeout || session > c.cfg.MaxSessionTimeout {
		return joinErr(req.MemberID, kerr.InvalidSessionTimeout.Code), nil
	}
	rebalance := ms(req.RebalanceTimeoutMillis)
	if req.Version == 0 || rebalance <= 0 {
		rebalance = session // v0 has no rebalance timeout: Kafka uses the session timeout
	}
	var instanceID *string
	if req.Version >= 5 && req.InstanceID != nil {
		id := *req.InstanceID
		instanceID = &id
	}
	protos := make([]protocolPref, 0, len(req.Protocols))
	for _, p := range req.Protocols {
		// Clone: decoded bytes alias the request frame, which the server reuses.
		protos = append(protos, protocolPref{name: p.Name, metadata: slices.Clone(p.Metadata)})
	}
	var g *group
	if req.MemberID == "" {
		g = c.getOrCreateGroup(req.Group)
	} else if g = c.getGroup(req.Group); g == nil {
		return joinErr(req.MemberID, kerr.UnknownMemberID.Code), nil
	}
	j := joinArgs{
		memberID: req.MemberID, instanceID: instanceID, clientID: clientIDFrom(ctx), clientHost: clientHostFrom(ctx),
		session: session, rebalance: rebalance, protocolType: req.ProtocolType, protocols: protos,
		requireKnownID: req.Version >= 4, skipAssignment: req.Version >= 9,
		reason: deref(req.Reason),
	}
	defer c.poke()
	g.mu.Lock()
	defer g.mu.Unlock()
	g.dirty = true // deadlines may move earlier: Run re-evaluates the group
	return c.joinLocked(ctx, g, j, time.Now())
}

type joinArgs struct {
	memberID       string
	instanceID     *string
	clientID       string
	clientHost     string
	session        time.Duration
	rebalance      time.Duration
	protocolType   string
	protocols      []protocolPref
	requireKnownID bool
	skipAssignment bool   // the client understands SkipAssignment (v9+)
	reason         string // v8+: why the client joins, for the logs
}

func (c *Coordinator) joinLocked(ctx context.Context, g *group, j joinArgs, now time.Time) (joinResult, chan joinResult) {
	if g.state == StateDead {
		return joinErr(j.memberID, kerr.CoordinatorNotAvailable.Code), nil
	}
	self := j.memberID
	if self == "" && j.instanceID != nil {
		self = g.staticMembers[*j.instanceID] // a restarting static member replaces itself
	}
	if !g.supportsProtocolsLocked(self, j.protocolType, j.protocols) {
		return joinErr(j.memberID, kerr.InconsistentGroupProtocol.Code), nil
	}
	if j.memberID == "" {
		prefix := j.clientID // Kafka: static members' ids start with the instance id
		if j.instanceID != nil {
			prefix = *j.instanceID
		}
		newID := newMemberID(prefix)
		if j.instanceID != nil {
			if old, ok := g.staticMembers[*j.instanceID]; ok {
				return c.replaceStaticMemberLocked(ctx, g, old, newID, j, now)
			}
		} else if j.requireKnownID {
			// KIP-394: hand out the id first, so a client that never
			// gets the response cannot leave ghost members behind.
			g.pendingMembers[newID] = now.Add(j.session)
			return joinErr(newID, kerr.MemberIDRequired.Code), nil
		}
		if len(g.members) >= c.cfg.MaxGroupSize {
			return joinErr(newID, kerr.GroupMaxSizeReached.Code), nil
		}
		return c.addMemberAndRebalanceLocked(g, newID, j, now)
	}
	if _, pending := g.pendingMembers[j.memberID]; pending && j.instanceID == nil {
		if len(g.members) >= c.cfg.MaxGroupSize {
			delete(g.pendingMembers, j.memberID)
			return joinErr(j.memberID, kerr.GroupMaxSizeReached.Code), nil
		}
		return c.addMemberAndRebalanceLocked(g, j.memberID, j, now)
	}
	if code := g.checkMemberLocked(j.memberID, j.instanceID, true); code != 0 {
		return joinErr(j.memberID, code), nil
	}
	m := g.members[j.memberID]
	switch g.state {
	case StatePreparingRebalance:
		if m.joinWaiter == nil && g.joinedLocked() >= c.cfg.MaxGroupSize {
			// The group was loaded (or configured down) over its size: only
			// the first max.size rejoining members stay.
			c.removeMemberAndUpdateLocked(g, m, now, "group over group.max.size")
			return joinErr(j.memberID, kerr.GroupMaxSizeReached.Code), nil
		}
		return c.updateMemberAndRebalanceLocked(g, m, j, now)
	case StateCompletingRebalance:
		if m.sameProtocols(j.protocols) {
			// The member lost its JoinGroup response: send it again.
			m.heartbeatDeadline = now.Add(m.sessionTimeout)
			return c.currentGenerationLocked(g, m.id, g.leader == m.id), nil
		}
		return c.updateMemberAndRebalanceLocked(g, m, j, now)
	case StateStable:
		if g.leader == m.id || !m.sameProtocols(j.protocols) {
			// A leader rejoin means it wants a new assignment (e.g. metadata changed).
			return c.updateMemberAndRebalanceLocked(g, m, j, now)
		}
		m.heartbeatDeadline = now.Add(m.sessionTimeout)
		return c.currentGenerationLocked(g, m.id, false), nil
	default: // Empty: no members
		return joinErr(j.memberID, kerr.UnknownMemberID.Code), nil
	}
}

// joinedLocked counts the members waiting on a JoinGroup answer.
func (g *group) joinedLocked() int {
	n := 0
	for _, m := range g.members {
		if m.joinWaiter != nil {
			n++
		}
	}
	return n
}

// currentGenerationLocked answers a JoinGroup with the running generation.
func (c *Coordinator) currentGenerationLocked(g *group, memberID string, withMembers bool) joinResult {
	r := joinResult{
		generation: g.generation, protocolType: g.protocolType, protocol: g.protocol,
		leader: g.leader, memberID: memberID,
	}
	if withMembers {
		r.members = g.joinMembersLocked()
	}
	return r
}

func (g *group) joinMembersLocked() []kmsg.JoinGroupResponseMember {
	ms := make([]kmsg.JoinGroupResponseMember, 0, len(g.members))
	for _, id := range sortedKeys(g.members) {
		m := g.members[id]
		jm := kmsg.NewJoinGroupResponseMember()
		jm.MemberID = id
		jm.InstanceID = m.instanceID
		jm.ProtocolMetadata = m.metadataFor(g.protocol)
		ms = append(ms, jm)
	}
	return ms
}

func (c *Coordinator) addMemberAndRebalanceLocked(g *group, id string, j joinArgs, now time.Time) (joinResult, chan joinResult) {
	wait := make(chan joinResult, 1)
	m := &member{
		id: id, instanceID: j.instanceID, clientID: j.clientID, clientHost: j.clientHost,
		sessionTimeout: j.session, rebalanceTimeout: j.rebalance,
		protocolType: j.protocolType, protocols: j.protocols,
		joinWaiter:        wait,
		heartbeatDeadline: now.Add(newMemberJoinTimeout),
		isNew:             true,
	}
	if len(g.members) == 0 {
		g.protocolType = j.protocolType
	}
	g.members[id] = m
	if g.leader == "" {
		g.leader = id
	}
	if j.instanceID != nil {
		g.staticMembers[*j.instanceID] = id
	}
	delete(g.pendingMembers, id)
	if g.state == StatePreparingRebalance && g.initialDelay {
		g.newMemberAdded = true
	}
	c.maybePrepareRebalanceLocked(g, now, "member "+id+" joined; client reason: "+j.reason)
	c.tryCompleteJoinLocked(g, now)
	return joinResult{}, wait
}

func (c *Coordinator) updateMemberAndRebalanceLocked(g *group, m *member, j joinArgs, now time.Time) (joinResult, chan joinResult) {
	wait := make(chan joinResult, 1)
	if m.joinWaiter != nil {
		// A retried JoinGroup replaces the one still waiting.
		m.joinWaiter <- joinErr(m.id, kerr.RebalanceInProgress.Code)
	}
	m.joinWaiter = wait
	m.protocols = j.protocols
	m.sessionTimeout = j.session
	m.rebalanceTimeout = j.rebalance
	if !m.isNew {
		m.heartbeatDeadline = now.Add(m.sessionTimeout)
	}
	c.maybePrepareRebalanceLocked(g, now, "member "+m.id+" rejoined; client reason: "+j.reason)
	c.tryCompleteJoinLocked(g, now)
	return joinResult{}, wait
}

// replaceStaticMemberLocked handles a static member (known group.instance.id)
// joining without a member id: the new id replaces the old one, the old id is
// fenced, and a Stable group whose protocol would not change keeps running
// without a rebalance.
func (c *Coordinator) replaceStaticMemberLocked(ctx context.Context, g *group, oldID, newID string, j joinArgs, now time.Time) (joinResult, chan joinResult) {
	old := g.members[oldID]
	if old == nil { // cannot happen: staticMembers only names members
		delete(g.staticMembers, *j.instanceID)
		return c.addMemberAndRebalanceLocked(g, newID, j, now)
	}
	if old.joinWaiter != nil {
		old.joinWaiter <- joinErr(oldID, kerr.FencedInstanceID.Code)
		old.joinWaiter = nil
	}
	if old.syncWaiter != nil {
		old.syncWaiter <- syncResult{errCode: kerr.FencedInstanceID.Code}
		old.syncWaiter = nil
	}
	prevLeader := g.leader
	prev := *old
	m := old
	delete(g.members, oldID)
	m.id = newID
	m.clientID, m.clientHost = j.clientID, j.clientHost
	g.members[newID] = m
	g.staticMembers[*j.instanceID] = newID
	if g.leader == oldID {
		g.leader = newID
	}
	if g.pendingSync[oldID] {
		delete(g.pendingSync, oldID)
		g.pendingSync[newID] = true
	}
	wait := make(chan joinResult, 1)
	m.joinWaiter = wait
	m.protocols, m.sessionTimeout, m.rebalanceTimeout = j.protocols, j.session, j.rebalance
	m.heartbeatDeadline = now.Add(m.sessionTimeout)

	switch g.state {
	case StateStable:
		if g.selectProtocolLocked() != g.protocol {
			c.prepareRebalanceLocked(g, now, "static member rejoined with other protocols")
			c.tryCompleteJoinLocked(g, now)
			return joinResult{}, wait
		}
		m.joinWaiter = nil
		if err := c.storeGroupLocked(ctx, g, now); err != nil {
			// Revert: the old member id stays valid.
			delete(g.members, newID)
			prev.joinWaiter = nil
			*m = prev
			g.members[oldID] = m
			g.staticMembers[*j.instanceID] = oldID
			g.leader = prevLeader
			r := c.currentGenerationLocked(g, "", false)
			r.errCode = storeErrCode(err)
			return r, nil
		}
		if j.skipAssignment {
			// v9+: a restarted static leader learns it leads (to keep
			// watching metadata) but skips the assignor: a Stable group
			// would not broadcast a new assignment anyway.
			r := c.currentGenerationLocked(g, newID, g.leader == newID)
			r.skip = g.leader == newID
			return r, nil
		}
		// Before v9 the answer names the old leader id, so a restarted
		// static leader does not think it leads and reassign.
		return joinResult{
			generation: g.generation, protocolType: g.protocolType, protocol: g.protocol,
			leader: prevLeader, memberID: newID,
		}, nil
	case StateCompletingRebalance:
		// The leader may already have computed an assignment naming the
		// old id: start over.
		c.prepareRebalanceLocked(g, now, "static member rejoined during sync")
		c.tryCompleteJoinLocked(g, now)
	case StatePreparingRebalance:
		c.tryCompleteJoinLocked(g, now)
	}
	return joinResult{}, wait
}

// maybePrepareRebalanceLocked starts a rebalance unless one is running.
func (c *Coordinator) maybePrepareRebalanceLocked(g *group, now time.Time, reason string) {
	switch g.state {
	case StateStable, StateCompletingRebalance, StateEmpty:
		c.prepareRebalanceLocked(g, now, reason)
	}
}

func (c *Coordinator) prepareRebalanceLocked(g *group, now time.Time, reason string) {
	if g.state == StateCompletingRebalance {
		for _, m := range g.members {
			m.assignment = nil
			answerSync(m, syncResult{errCode: kerr.RebalanceInProgress.Code}, now)
		}
	}
	clear(g.pendingSync)
	g.syncDeadline = time.Time{}
	timeout := g.rebalanceTimeoutLocked()
	if g.state == StateEmpty && c.cfg.InitialRebalanceDelay > 0 {
		d := min(c.cfg.InitialRebalanceDelay, timeout)
		g.initialDelay = true
		g.newMemberAdded = false
		g.delayRemaining = max(timeout-c.cfg.InitialRebalanceDelay, 0)
		g.rebalanceDeadline = now.Add(d)
	} else {
		g.initialDelay = false
		g.rebalanceDeadline = now.Add(timeout)
	}
	c.metrics.rebalances.Inc()
	c.log.Info("preparing rebalance", "group", g.id, "generation", g.generation, "reason", reason)
	c.setStateLocked(g, StatePreparingRebalance, now)
}

// tryCompleteJoinLocked ends the join phase once every member (and every
// member id handed out by MEMBER_ID_REQUIRED) has joined.
func (c *Coordinator) tryCompleteJoinLocked(g *group, now time.Time) {
	if g.state != StatePreparingRebalance || g.initialDelay || len(g.pendingMembers) > 0 {
		return
	}
	for _, m := range g.members {
		if m.joinWaiter == nil {
			return
		}
	}
	c.completeJoinLocked(context.Background(), g, now)
}

// completeJoinLocked ends the join phase: dynamic members that did not
// rejoin are removed (static ones stay, expected back within their
// session), a member that did rejoin leads, and the next generation starts
// (or the group becomes Empty). If only absent static members are left,
// the phase is extended by another rebalance timeout, as Kafka does.
func (c *Coordinator) completeJoinLocked(ctx context.Context, g *group, now time.Time) {
	for _, id := range sortedKeys(g.members) {
		if m := g.members[id]; m.joinWaiter == nil && m.instanceID == nil {
			c.metrics.expired.WithLabelValues("rebalance_timeout").Inc()
			c.log.Info("member removed: did not rejoin in time", "group", g.id, "member_id", id)
			c.removeMemberLocked(g, m)
		}
	}
	if len(g.members) > 0 && (g.members[g.leader] == nil || g.members[g.leader].joinWaiter == nil) {
		g.leader = ""
		for _, id := range sortedKeys(g.members) {
			if g.members[id].joinWaiter != nil {
				g.leader = id
				break
			}
		}
		if g.leader == "" {
			c.log.Warn("rebalance postponed: no member rejoined", "group", g.id)
			g.leader = sortedKeys(g.members)[0]
			g.initialDelay = false
			g.rebalanceDeadline = now.Add(g.rebalanceTimeoutLocked())
			return
		}
	}
	g.initialDelay = false
	g.rebalanceDeadline = time.Time{}
	g.generation++
	if len(g.members) == 0 {
		g.protocol = ""
		g.leader = ""
		c.setStateLocked(g, StateEmpty, now)
		if err := c.storeGroupLocked(ctx, g, now); err != nil {
			c.log.Warn("storing empty group failed", "group", g.id, "err", err)
		}
		return
	}
	g.protocol = g.selectProtocolLocked()
	c.setStateLocked(g, StateCompletingRebalance, now)
	for id, m := range g.members {
		if m.joinWaiter != nil {
			m.joinWaiter <- c.currentGenerationLocked(g, id, id == g.leader)
			m.joinWaiter = nil
		}
		m.isNew = false
		m.heartbeatDeadline = now.Add(m.sessionTimeout)
		g.pendingSync[id] = true
	}
	g.syncDeadline = now.Add(g.rebalanceTimeoutLocked())
	c.log.Info("group stabilized", "group", g.id, "generation", g.generation, "protocol", g.protocol,
		"leader", g.leader, "members", len(g.members))
}

// removeMemberLocked drops m from g, answering its waiters, and moves
// leadership if needed. It does not change the group state.
func (c *Coordinator) removeMemberLocked(g *group, m *member) {
	if m.joinWaiter != nil {
		m.joinWaiter <- joinErr(m.id, kerr.UnknownMemberID.Code)
		m.joinWaiter = nil
	}
	if m.syncWaiter != nil {
		m.syncWaiter <- syncResult{errCode: kerr.UnknownMemberID.Code}
		m.syncWaiter = nil
	}
	delete(g.members, m.id)
	delete(g.pendingSync, m.id)
	if m.instanceID != nil && g.staticMembers[*m.instanceID] == m.id {
		delete(g.staticMembers, *m.instanceID)
	}
	if g.leader == m.id {
		g.leader = ""
		if len(g.members) > 0 {
			g.leader = sortedKeys(g.members)[0]
		}
	}
}

// removeMemberAndUpdateLocked removes m and moves the group on: a running
// generation rebalances, a join phase may now be complete.
func (c *Coordinator) removeMemberAndUpdateLocked(g *group, m *member, now time.Time, reason string) {
	c.removeMemberLocked(g, m)
	switch g.state {
	case StateStable, StateCompletingRebalance:
		c.prepareRebalanceLocked(g, now, reason)
		c.tryCompleteJoinLocked(g, now)
	case StatePreparingRebalance:
		c.tryCompleteJoinLocked(g, now)
	}
}
