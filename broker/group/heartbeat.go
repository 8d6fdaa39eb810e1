package group

import (
	"context"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// heartbeat serves Heartbeat v0-v4.
func (c *Coordinator) heartbeat(req *kmsg.HeartbeatRequest) kmsg.Response {
	resp := req.ResponseKind().(*kmsg.HeartbeatResponse)
	resp.ErrorCode = c.heartbeatCode(req)
	return resp
}

func (c *Coordinator) heartbeatCode(req *kmsg.HeartbeatRequest) int16 {
	if code := c.unavailable(); code != 0 {
		if code == kerr.CoordinatorLoadInProgress.Code {
			return 0 // as Kafka: the group is still loading, answer blindly
		}
		return code
	}
	if req.Group == "" {
		return kerr.InvalidGroupID.Code
	}
	g := c.getGroup(req.Group)
	if g == nil {
		return kerr.UnknownMemberID.Code
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	switch g.state {
	case StateDead:
		return kerr.CoordinatorNotAvailable.Code
	case StateEmpty:
		return kerr.UnknownMemberID.Code
	}
	if code := g.checkMemberLocked(req.MemberID, req.InstanceID, req.Version >= 3); code != 0 {
		return code
	}
	if req.Generation != g.generation {
		return kerr.IllegalGeneration.Code
	}
	m := g.members[req.MemberID]
	m.heartbeatDeadline = time.Now().Add(m.sessionTimeout)
	if g.state == StatePreparingRebalance {
		return kerr.RebalanceInProgress.Code
	}
	return 0
}

// leaveGroup serves LeaveGroup v0-v5 (v3+ leave in batches, by member id or
// by group.instance.id alone).
func (c *Coordinator) leaveGroup(_ context.Context, req *kmsg.LeaveGroupRequest) kmsg.Response {
	resp := req.ResponseKind().(*kmsg.LeaveGroupResponse)
	leaving := req.Members
	if req.Version < 3 {
		leaving = []kmsg.LeaveGroupRequestMember{{MemberID: req.MemberID}}
	}
	top, codes := c.leave(req.Group, leaving)
	if req.Version < 3 {
		if top == 0 {
			top = codes[0]
		}
		resp.ErrorCode = top
		return resp
	}
	resp.ErrorCode = top
	if top == 0 {
		for i, l := range leaving {
			rm := kmsg.NewLeaveGroupResponseMember()
			rm.MemberID = l.MemberID
			rm.InstanceID = l.InstanceID
			rm.ErrorCode = codes[i]
			resp.Members = append(resp.Members, rm)
		}
	}
	return resp
}

func (c *Coordinator) leave(groupID string, leaving []kmsg.LeaveGroupRequestMember) (int16, []int16) {
	codes := make([]int16, len(leaving))
	if code := c.unavailable(); code != 0 {
		return code, codes
	}
	if groupID == "" {
		return kerr.InvalidGroupID.Code, codes
	}
	g := c.getGroup(groupID)
	if g == nil {
		for i := range codes {
			codes[i] = kerr.UnknownMemberID.Code
		}
		return 0, codes
	}
	defer c.poke()
	g.mu.Lock()
	defer g.mu.Unlock()
	g.dirty = true // deadlines may move earlier: Run re-evaluates the group
	if g.state == StateDead {
		return kerr.CoordinatorNotAvailable.Code, codes
	}
	now := time.Now()
	for i, l := range leaving {
		id := l.MemberID
		switch {
		case id == "" && l.InstanceID != nil:
			cur, ok := g.staticMembers[*l.InstanceID]
			if !ok {
				codes[i] = kerr.UnknownMemberID.Code
				continue
			}
			id = cur
		case l.InstanceID == nil:
			if _, ok := g.pendingMembers[id]; ok {
				delete(g.pendingMembers, id)
				c.tryCompleteJoinLocked(g, now)
				continue
			}
		}
		if code := g.checkMemberLocked(id, l.InstanceID, true); code != 0 {
			codes[i] = code
			continue
		}
		m := g.members[id]
		c.log.Info("member left", "group", g.id, "member_id", id, "reason", deref(l.Reason))
		c.removeMemberAndUpdateLocked(g, m, now, "member left")
	}
	return 0, codes
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}
