package group

import (
	"fmt"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// groupAPIs are the request kinds Handle serves.
var groupAPIs = []int16{
	kmsg.JoinGroup.Int16(), kmsg.SyncGroup.Int16(), kmsg.Heartbeat.Int16(), kmsg.LeaveGroup.Int16(),
	kmsg.OffsetCommit.Int16(), kmsg.OffsetFetch.Int16(), kmsg.OffsetDelete.Int16(),
	kmsg.DescribeGroups.Int16(), kmsg.ListGroups.Int16(), kmsg.DeleteGroups.Int16(), kmsg.FindCoordinator.Int16(),
}

// fill gives a request enough content that the handler walks its main path.
func fill(req kmsg.Request, group string) {
	meta := "m"
	switch r := req.(type) {
	case *kmsg.JoinGroupRequest:
		*r = *joinReq(r.Version, group, "")
	case *kmsg.SyncGroupRequest:
		r.Group, r.MemberID, r.Generation = group, "m", 1
	case *kmsg.HeartbeatRequest:
		r.Group, r.MemberID, r.Generation = group, "m", 1
	case *kmsg.LeaveGroupRequest:
		r.Group, r.MemberID = group, "m"
		r.Members = []kmsg.LeaveGroupRequestMember{{MemberID: "m"}}
	case *kmsg.OffsetCommitRequest:
		r.Group = group
		r.Topics = []kmsg.OffsetCommitRequestTopic{{Topic: "t", TopicID: [16]byte{1}, Partitions: []kmsg.OffsetCommitRequestTopicPartition{{Partition: 0, Offset: 5, LeaderEpoch: -1, Metadata: &meta}}}}
	case *kmsg.OffsetFetchRequest:
		r.Group = group
		r.Topics = []kmsg.OffsetFetchRequestTopic{{Topic: "t", Partitions: []int32{0, 1}}}
		r.Groups = []kmsg.OffsetFetchRequestGroup{{Group: group, Topics: []kmsg.OffsetFetchRequestGroupTopic{{Topic: "t", TopicID: [16]byte{1}, Partitions: []int32{0}}}}, {Group: group}}
	case *kmsg.OffsetDeleteRequest:
		r.Group = group
		r.Topics = []kmsg.OffsetDeleteRequestTopic{{Topic: "t", Partitions: []kmsg.OffsetDeleteRequestTopicPartition{{Partition: 0}}}}
	case *kmsg.DescribeGroupsRequest:
		r.Groups = []string{group, "missing", "stable"}
		r.IncludeAuthorizedOperations = true
	case *kmsg.DeleteGroupsRequest:
		r.Groups = []string{group, "missing", "stable"}
	case *kmsg.FindCoordinatorRequest:
		r.CoordinatorKey = group
		r.CoordinatorKeys = []string{group, "other"}
	}
}

// TestEveryVersion sends every version of every served API and checks the
// response has the request's version and survives an encode/decode round trip.
func TestEveryVersion(t *testing.T) {
	t.Parallel()
	run(t, func(t *testing.T) {
		h := start(t, nil, WithNode(Node{ID: 1, Host: "127.0.0.1", Port: 9092}),
			WithTopics(fakeTopics{"t": {id: [16]byte{1}, partitions: 2}}))
		h.stableGroup("stable", 2)
		for _, key := range groupAPIs {
			proto := kmsg.RequestForKey(key)
			for v := int16(0); v <= proto.MaxVersion(); v++ {
				req := kmsg.RequestForKey(key)
				req.SetVersion(v)
				group := fmt.Sprintf("g-%d-%d", key, v)
				fill(req, group)
				req.SetVersion(v)
				// Commit first so fetch/delete find something.
				h.do(commitReq(min(v, 9), group, "", -1, "t", map[int32]int64{0: 1}))
				resp := h.do(req)
				raw := resp.AppendTo(nil)
				back := req.ResponseKind()
				back.SetVersion(v)
				if err := back.ReadFrom(raw); err != nil {
					t.Errorf("%s v%d: response does not decode: %v", kmsg.NameForKey(key), v, err)
				}
				// Also describe/list/sync against the live group.
				_ = back
			}
		}
		// Success paths of the blocking APIs at every version.
		for v := int16(0); v <= kmsg.NewPtrSyncGroupRequest().MaxVersion(); v++ {
			group := fmt.Sprintf("sync-%d", v)
			r := recv[*kmsg.JoinGroupResponse](t, h.async(joinReq(3, group, "")))
			s := syncReq(v, group, r.MemberID, r.Generation, map[string][]byte{r.MemberID: consumerAssignment("t", 0)})
			sr := recv[*kmsg.SyncGroupResponse](t, h.async(s))
			if sr.ErrorCode != 0 || sr.Version != v {
				t.Fatalf("sync v%d: %+v", v, sr)
			}
			if v >= 5 && (sr.Protocol == nil || *sr.Protocol != "range") {
				t.Fatalf("sync v%d protocol %v", v, sr.Protocol)
			}
			back := kmsg.NewPtrSyncGroupResponse()
			back.Version = v
			if err := back.ReadFrom(sr.AppendTo(nil)); err != nil {
				t.Fatalf("sync v%d decode: %v", v, err)
			}
		}
	})
}

func TestListAndDescribe(t *testing.T) {
	t.Parallel()
	run(t, func(t *testing.T) {
		h := start(t, nil)
		ids, _ := h.stableGroup("stable", 1)
		h.do(commitReq(8, "simple", "", -1, "t", map[int32]int64{0: 1}))
		l := kmsg.NewPtrListGroupsRequest()
		l.Version = 5
		lr := h.do(l).(*kmsg.ListGroupsResponse)
		if len(lr.Groups) != 2 || lr.Groups[1].Group != "stable" || lr.Groups[1].GroupState != "Stable" || lr.Groups[1].ProtocolType != "consumer" || lr.Groups[1].GroupType != "classic" {
			t.Fatalf("list: %+v", lr.Groups)
		}
		l.StatesFilter = []string{"empty"}
		if lr := h.do(l).(*kmsg.ListGroupsResponse); len(lr.Groups) != 1 || lr.Groups[0].Group != "simple" {
			t.Fatalf("list empty: %+v", lr.Groups)
		}
		l.StatesFilter, l.TypesFilter = nil, []string{"consumer"}
		if lr := h.do(l).(*kmsg.ListGroupsResponse); len(lr.Groups) != 0 {
			t.Fatalf("list type consumer (KIP-848 groups): %+v", lr.Groups)
		}
		d := kmsg.NewPtrDescribeGroupsRequest()
		d.Version = 5
		d.Groups = []string{"stable", "nope"}
		dr := h.do(d).(*kmsg.DescribeGroupsResponse)
		g := dr.Groups[0]
		if g.State != "Stable" || g.Protocol != "range" || len(g.Members) != 1 || g.Members[0].MemberID != ids[0] ||
			g.Members[0].ClientID != "client" || g.Members[0].ClientHost != "/127.0.0.1" || len(g.Members[0].MemberAssignment) == 0 {
			t.Fatalf("describe: %+v", g)
		}
		if dr.Groups[1].State != "Dead" || dr.Groups[1].ErrorCode != 0 {
			t.Fatalf("describe missing v5: %+v", dr.Groups[1])
		}
		d.Version = 6
		if dr := h.do(d).(*kmsg.DescribeGroupsResponse); dr.Groups[1].ErrorCode == 0 {
			t.Fatalf("describe missing v6: %+v", dr.Groups[1])
		}
	})
}
