package group

import (
	"context"
	"slices"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// syncResult is what a SyncGroup waiter receives.
type syncResult struct {
	errCode      int16
	assignment   []byte
	protocolType string
	protocol     string
}

// syncGroup serves SyncGroup v0-v5.
func (c *Coordinator) syncGroup(ctx context.Context, req *kmsg.SyncGroupRequest) (kmsg.Response, error) {
	res, wait := c.sync(ctx, req)
	if wait != nil {
		select {
		case res = <-wait:
		case <-c.stopped:
			res = syncResult{errCode: kerr.NotCoordinator.Code}
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	resp := req.ResponseKind().(*kmsg.SyncGroupResponse)
	resp.ErrorCode = res.errCode
	resp.MemberAssignment = res.assignment
	if resp.MemberAssignment == nil {
		resp.MemberAssignment = []byte{}
	}
	if res.errCode == 0 && req.Version >= 5 {
		resp.ProtocolType, resp.Protocol = &res.protocolType, &res.protocol
	}
	return resp, nil
}

func (c *Coordinator) sync(ctx context.Context, req *kmsg.SyncGroupRequest) (syncResult, chan syncResult) {
	fail := func(code int16) (syncResult, chan syncResult) { return syncResult{errCode: code}, nil }
	if code := c.unavailable(); code != 0 {
		if code == kerr.CoordinatorLoadInProgress.Code {
			// As Kafka: the rebalance state is lost, so rejoin; older
			// clients do not expect COORDINATOR_LOAD_IN_PROGRESS here.
			code = kerr.RebalanceInProgress.Code
		}
		return fail(code)
	}
	if req.Group == "" {
		return fail(kerr.InvalidGroupID.Code)
	}
	g := c.getGroup(req.Group)
	if g == nil {
		return fail(kerr.UnknownMemberID.Code)
	}
	defer c.poke()
	g.mu.Lock()
	defer g.mu.Unlock()
	g.dirty = true // deadlines may move earlier: Run re-evaluates the group
	now := time.Now()
	if g.state == StateDead {
		return fail(kerr.CoordinatorNotAvailable.Code)
	}
	if code := g.checkMemberLocked(req.MemberID, req.InstanceID, req.Version >= 3); code != 0 {
		return fail(code)
	}
	if req.Generation != g.generation {
		return fail(kerr.IllegalGeneration.Code)
	}
	if req.Version >= 5 {
		if (req.ProtocolType != nil && *req.ProtocolType != g.protocolType) || (req.Protocol != nil && *req.Protocol != g.protocol) {
			return fail(kerr.InconsistentGroupProtocol.Code)
		}
	}
	m := g.members[req.MemberID]
	switch g.state {
	case StatePreparingRebalance:
		return fail(kerr.RebalanceInProgress.Code)
	case StateStable:
		c.syncedLocked(g, m, now)
		return g.syncOKLocked(m), nil
	case StateCompletingRebalance:
	default:
		return fail(kerr.UnknownMemberID.Code)
	}
	wait := make(chan syncResult, 1)
	if m.syncWaiter != nil {
		m.syncWaiter <- syncResult{errCode: kerr.RebalanceInProgress.Code}
	}
	m.syncWaiter = wait
	c.syncedLocked(g, m, now)
	if g.leader != m.id {
		return syncResult{}, wait
	}
	assigned := make(map[string][]byte, len(req.GroupAssignment))
	for _, a := range req.GroupAssignment {
		assigned[a.MemberID] = slices.Clone(a.MemberAssignment) // aliases the request frame
	}
	for id, mm := range g.members {
		mm.assignment = assigned[id]
		if mm.assignment == nil {
			mm.assignment = []byte{}
		}
	}
	if err := c.storeGroupLocked(ctx, g, now); err != nil {
		code := storeErrCode(err)
		for _, mm := range g.members {
			mm.assignment = nil
			answerSync(mm, syncResult{errCode: code}, now)
		}
		c.prepareRebalanceLocked(g, now, "storing the assignment failed")
		return syncResult{}, wait
	}
	for _, mm := range g.members {
		answerSync(mm, g.syncOKLocked(mm), now)
	}
	c.setStateLocked(g, StateStable, now)
	return syncResult{}, wait
}

// answerSync answers m's waiting SyncGroup, if any, and restarts its
// session, which was on hold while it waited (as Kafka, on success and error).
func answerSync(m *member, r syncResult, now time.Time) {
	if m.syncWaiter == nil {
		return
	}
	m.syncWaiter <- r
	m.syncWaiter = nil
	m.heartbeatDeadline = now.Add(m.sessionTimeout)
}

func (g *group) syncOKLocked(m *member) syncResult {
	return syncResult{assignment: m.assignment, protocolType: g.protocolType, protocol: g.protocol}
}

// syncedLocked records that m sent SyncGroup for this generation.
func (c *Coordinator) syncedLocked(g *group, m *member, now time.Time) {
	delete(g.pendingSync, m.id)
	if len(g.pendingSync) == 0 {
		g.syncDeadline = time.Time{}
	}
	m.heartbeatDeadline = now.Add(m.sessionTimeout)
}

// checkMemberLocked validates a member id (and instance id when the version
// carries one), returning 0 or the error code.
func (g *group) checkMemberLocked(memberID string, instanceID *string, hasInstance bool) int16 {
	if hasInstance && instanceID != nil {
		cur, ok := g.staticMembers[*instanceID]
		switch {
		case !ok:
			return kerr.UnknownMemberID.Code
		case cur != memberID:
			return kerr.FencedInstanceID.Code
		}
	}
	if g.members[memberID] == nil {
		return kerr.UnknownMemberID.Code
	}
	return 0
}
