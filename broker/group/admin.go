package group

import (
	"context"
	"errors"
	"github.com/sluicehq/sluice/broker/kafkaproto"
	"slices"
	"strings"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// groupOperations are the ACL operations on a group (READ, DELETE, DESCRIBE)
// as a DescribeGroups v3+ authorized-operations bit field.
const groupOperations = 1<<3 | 1<<6 | 1<<8

// describeGroups serves DescribeGroups v0-v6.
func (c *Coordinator) describeGroups(req *kmsg.DescribeGroupsRequest) kmsg.Response {
	resp := req.ResponseKind().(*kmsg.DescribeGroupsResponse)
	for _, id := range req.Groups {
		rg := kmsg.NewDescribeGroupsResponseGroup()
		rg.Group = id
		if req.IncludeAuthorizedOperations {
			rg.AuthorizedOperations = groupOperations
		}
		d, err := c.Describe(id)
		switch {
		case errors.Is(err, ErrLoading):
			rg.ErrorCode = kerr.CoordinatorLoadInProgress.Code
		case err != nil: // unknown: Kafka answers Dead; v6 (KIP-1043) says so with an error
			rg.State = StateDead.String()
			if req.Version >= 6 {
				rg.ErrorCode = kerr.GroupIDNotFound.Code
				msg := "group " + id + " not found"
				rg.ErrorMessage = &msg
			}
		default:
			rg.State = d.State.String()
			rg.ProtocolType = d.ProtocolType
			rg.Protocol = d.Protocol
			for _, m := range d.Members {
				rm := kmsg.NewDescribeGroupsResponseGroupMember()
				rm.MemberID, rm.ClientID, rm.ClientHost = m.MemberID, m.ClientID, m.ClientHost
				if m.InstanceID != "" {
					iid := m.InstanceID
					rm.InstanceID = &iid
				}
				rm.ProtocolMetadata, rm.MemberAssignment = []byte{}, []byte{}
				if d.State == StateStable { // Kafka shows metadata and assignments only when Stable
					rm.ProtocolMetadata, rm.MemberAssignment = m.Metadata, m.Assignment
				}
				rg.Members = append(rg.Members, rm)
			}
		}
		resp.Groups = append(resp.Groups, rg)
	}
	return resp
}

// listGroups serves ListGroups v0-v5 with the v4 state and v5 type filters.
func (c *Coordinator) listGroups(req *kmsg.ListGroupsRequest) kmsg.Response {
	resp := req.ResponseKind().(*kmsg.ListGroupsResponse)
	if code := c.unavailable(); code != 0 {
		resp.ErrorCode = code
		return resp
	}
	match := func(filter []string, v string) bool {
		return len(filter) == 0 || slices.ContainsFunc(filter, func(f string) bool { return strings.EqualFold(f, v) })
	}
	for _, s := range c.Groups() {
		if !match(req.StatesFilter, s.State.String()) || !match(req.TypesFilter, "classic") {
			continue
		}
		lg := kmsg.NewListGroupsResponseGroup()
		lg.Group, lg.ProtocolType, lg.GroupState, lg.GroupType = s.Group, s.ProtocolType, s.State.String(), "classic"
		resp.Groups = append(resp.Groups, lg)
	}
	return resp
}

// deleteGroups serves DeleteGroups v0-v3: an Empty group and its offsets
// go, with tombstones; a group with members is NON_EMPTY_GROUP.
func (c *Coordinator) deleteGroups(ctx context.Context, req *kmsg.DeleteGroupsRequest) kmsg.Response {
	resp := req.ResponseKind().(*kmsg.DeleteGroupsResponse)
	for _, id := range req.Groups {
		rg := kmsg.NewDeleteGroupsResponseGroup()
		rg.Group = id
		rg.ErrorCode = c.deleteGroup(ctx, id)
		resp.Groups = append(resp.Groups, rg)
	}
	return resp
}

func (c *Coordinator) deleteGroup(ctx context.Context, id string) int16 {
	if code := c.unavailable(); code != 0 {
		return code
	}
	g := c.getGroup(id) // "" is a valid id here, as in Kafka
	if g == nil {
		return kerr.GroupIDNotFound.Code
	}
	g.mu.Lock()
	switch g.state {
	case StateDead:
		g.mu.Unlock()
		return kerr.GroupIDNotFound.Code
	case StateEmpty:
	default:
		g.mu.Unlock()
		return kerr.NonEmptyGroup.Code
	}
	recs := make([]Record, 0, len(g.offsets)+1)
	for k := range g.offsets {
		recs = append(recs, Record{Key: offsetKey(g.id, k.topic, k.partition)})
	}
	recs = append(recs, Record{Key: groupKey(g.id)})
	if err := c.appendLocked(ctx, g, recs); err != nil {
		g.mu.Unlock()
		return storeErrCode(err)
	}
	clear(g.offsets)
	clear(g.pendingMembers)
	c.setStateLocked(g, StateDead, g.stateSince)
	g.mu.Unlock()
	c.removeGroup(g)
	c.log.Info("group deleted", "group", id)
	return 0
}

// findCoordinator serves FindCoordinator v0-v6 for groups: this node
// coordinates every group.
func (c *Coordinator) findCoordinator(req *kmsg.FindCoordinatorRequest) kmsg.Response {
	n := *c.node
	return kafkaproto.FindCoordinatorResponse(req, 0, n.ID, n.Host, n.Port)
}
