package group

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/kversion"
)

// oracleTarget sends one request and returns its response.
type oracleTarget func(ctx context.Context, req kmsg.Request) (kmsg.Response, error)

// oracleStep is one request of the script; build may use what earlier
// steps learned (the member id, the generation), norm reduces the response
// to what must match between implementations (ids differ, codes must not).
type oracleStep struct {
	name  string
	build func(s *oracleState) kmsg.Request
	norm  func(s *oracleState, r kmsg.Response) string
}

type oracleState struct {
	memberID string
	gen      int32
	staticID string // the static member's first id
	static2  string // its id after the restart
}

func code(c int16) string {
	if err := kerr.ErrorForCode(c); err != nil {
		return err.(*kerr.Error).Message
	}
	return "OK"
}

func oracleScript() []oracleStep {
	const grp = "og"
	commit := func(s *oracleState, member string, gen int32, p int32, off int64) kmsg.Request {
		r := kmsg.NewPtrOffsetCommitRequest()
		r.Group, r.MemberID, r.Generation = grp, member, gen
		meta := "m"
		r.Topics = []kmsg.OffsetCommitRequestTopic{{Topic: "t", Partitions: []kmsg.OffsetCommitRequestTopicPartition{{Partition: p, Offset: off, LeaderEpoch: -1, Metadata: &meta}}}}
		return r
	}
	commitNorm := func(_ *oracleState, r kmsg.Response) string { return fmt.Sprint(codeList(commitCodes(r))) }
	describe := func(groups ...string) func(*oracleState) kmsg.Request {
		return func(*oracleState) kmsg.Request {
			r := kmsg.NewPtrDescribeGroupsRequest()
			r.Groups = groups
			return r
		}
	}
	describeNorm := func(_ *oracleState, r kmsg.Response) string {
		var out []string
		for _, g := range r.(*kmsg.DescribeGroupsResponse).Groups {
			out = append(out, fmt.Sprintf("%s:%s:%s/%s/%s:%d", g.Group, code(g.ErrorCode), g.State, g.ProtocolType, g.Protocol, len(g.Members)))
		}
		return strings.Join(out, " ")
	}
	hb := func(member func(*oracleState) string, gen func(*oracleState) int32) func(*oracleState) kmsg.Request {
		return func(s *oracleState) kmsg.Request { return heartbeatReq(4, grp, member(s), gen(s)) }
	}
	hbNorm := func(_ *oracleState, r kmsg.Response) string { return code(hbCode(r)) }
	fetchNorm := func(_ *oracleState, r kmsg.Response) string {
		resp := r.(*kmsg.OffsetFetchResponse)
		var out []string
		for _, g := range resp.Groups {
			out = append(out, code(g.ErrorCode))
			for _, t := range g.Topics {
				for _, p := range t.Partitions {
					out = append(out, fmt.Sprintf("%s/%d=%d(%s)", t.Topic, p.Partition, p.Offset, code(p.ErrorCode)))
				}
			}
		}
		return strings.Join(out, " ")
	}
	offsetDelete := func(p int32) func(*oracleState) kmsg.Request {
		return func(*oracleState) kmsg.Request {
			r := kmsg.NewPtrOffsetDeleteRequest()
			r.Group = grp
			r.Topics = []kmsg.OffsetDeleteRequestTopic{{Topic: "t", Partitions: []kmsg.OffsetDeleteRequestTopicPartition{{Partition: p}}}}
			return r
		}
	}
	offsetDeleteNorm := func(_ *oracleState, r kmsg.Response) string {
		resp := r.(*kmsg.OffsetDeleteResponse)
		out := []string{code(resp.ErrorCode)}
		for _, t := range resp.Topics {
			for _, p := range t.Partitions {
				out = append(out, code(p.ErrorCode))
			}
		}
		return strings.Join(out, " ")
	}
	member := func(s *oracleState) string { return s.memberID }
	gen := func(s *oracleState) int32 { return s.gen }
	return []oracleStep{
		{"join without id", func(*oracleState) kmsg.Request { return joinReq(9, grp, "") },
			func(s *oracleState, r kmsg.Response) string {
				j := r.(*kmsg.JoinGroupResponse)
				s.memberID = j.MemberID
				return fmt.Sprintf("%s gen=%d id?%v", code(j.ErrorCode), j.Generation, j.MemberID != "")
			}},
		{"join with id", func(s *oracleState) kmsg.Request { return joinReq(9, grp, s.memberID) },
			func(s *oracleState, r kmsg.Response) string {
				j := r.(*kmsg.JoinGroupResponse)
				s.gen = j.Generation
				return fmt.Sprintf("%s gen=%d leader=%v members=%d protocol=%v/%v", code(j.ErrorCode), j.Generation,
					j.LeaderID == s.memberID, len(j.Members), derefOrNil(j.ProtocolType), derefOrNil(j.Protocol))
			}},
		{"join bad session timeout", func(*oracleState) kmsg.Request {
			return joinReq(9, grp, "", withTimeouts(time.Millisecond, time.Second))
		}, func(_ *oracleState, r kmsg.Response) string { return code(joinCode(r)) }},
		{"join other protocol type", func(*oracleState) kmsg.Request {
			j := joinReq(9, grp, "")
			j.ProtocolType = "connect"
			return j
		}, func(_ *oracleState, r kmsg.Response) string { return code(joinCode(r)) }},
		{"heartbeat before sync", hb(member, gen), hbNorm},
		{"sync", func(s *oracleState) kmsg.Request {
			return syncReq(5, grp, s.memberID, s.gen, map[string][]byte{s.memberID: consumerAssignment("t", 0, 1)})
		}, func(_ *oracleState, r kmsg.Response) string {
			sr := r.(*kmsg.SyncGroupResponse)
			return fmt.Sprintf("%s %x %v/%v", code(sr.ErrorCode), sr.MemberAssignment, derefOrNil(sr.ProtocolType), derefOrNil(sr.Protocol))
		}},
		{"sync again in stable", func(s *oracleState) kmsg.Request { return syncReq(5, grp, s.memberID, s.gen, nil) },
			func(_ *oracleState, r kmsg.Response) string { return code(syncCode(r)) }},
		{"heartbeat", hb(member, gen), hbNorm},
		{"heartbeat next generation", hb(member, func(s *oracleState) int32 { return s.gen + 1 }), hbNorm},
		{"heartbeat unknown member", hb(func(*oracleState) string { return "nobody" }, gen), hbNorm},
		{"sync old generation", func(s *oracleState) kmsg.Request { return syncReq(5, grp, s.memberID, s.gen-1, nil) },
			func(_ *oracleState, r kmsg.Response) string { return code(syncCode(r)) }},
		{"member commit", func(s *oracleState) kmsg.Request { return commit(s, s.memberID, s.gen, 0, 10) }, commitNorm},
		{"member commit wrong generation", func(s *oracleState) kmsg.Request { return commit(s, s.memberID, s.gen+5, 0, 11) }, commitNorm},
		{"simple commit on stable group", func(s *oracleState) kmsg.Request { return commit(s, "", -1, 1, 20) }, commitNorm},
		{"commit unknown member", func(s *oracleState) kmsg.Request { return commit(s, "nobody", s.gen, 1, 20) }, commitNorm},
		{"fetch", func(*oracleState) kmsg.Request { return fetchReq(8, grp, "t", 0, 1) }, fetchNorm},
		{"describe stable", describe(grp), describeNorm},
		{"list", func(*oracleState) kmsg.Request { return kmsg.NewPtrListGroupsRequest() },
			func(_ *oracleState, r kmsg.Response) string {
				var out []string
				for _, g := range r.(*kmsg.ListGroupsResponse).Groups {
					out = append(out, g.Group+":"+g.GroupState+":"+g.ProtocolType)
				}
				return strings.Join(out, " ")
			}},
		{"delete non-empty", func(*oracleState) kmsg.Request {
			r := kmsg.NewPtrDeleteGroupsRequest()
			r.Groups = []string{grp}
			return r
		}, func(_ *oracleState, r kmsg.Response) string {
			return code(r.(*kmsg.DeleteGroupsResponse).Groups[0].ErrorCode)
		}},
		{"offset delete subscribed", offsetDelete(0), offsetDeleteNorm},
		{"leave", func(s *oracleState) kmsg.Request {
			r := kmsg.NewPtrLeaveGroupRequest()
			r.Group = grp
			r.Members = []kmsg.LeaveGroupRequestMember{{MemberID: s.memberID}, {MemberID: "nobody"}}
			return r
		}, func(_ *oracleState, r kmsg.Response) string {
			lr := r.(*kmsg.LeaveGroupResponse)
			out := []string{code(lr.ErrorCode)}
			for _, m := range lr.Members {
				out = append(out, code(m.ErrorCode))
			}
			return strings.Join(out, " ")
		}},
		{"describe empty", describe(grp, "missing"), describeNorm},
		{"heartbeat after leave", hb(member, gen), hbNorm},
		{"simple commit on empty group", func(s *oracleState) kmsg.Request { return commit(s, "", -1, 1, 21) }, commitNorm},
		{"member commit on empty group", func(s *oracleState) kmsg.Request { return commit(s, s.memberID, s.gen, 1, 22) }, commitNorm},
		{"offset delete empty", offsetDelete(0), offsetDeleteNorm},
		{"fetch after delete", func(*oracleState) kmsg.Request { return fetchReq(8, grp, "t", 0, 1) }, fetchNorm},
		{"fetch all", func(*oracleState) kmsg.Request { return fetchReq(8, grp, "") }, fetchNorm},
		{"delete groups", func(*oracleState) kmsg.Request {
			r := kmsg.NewPtrDeleteGroupsRequest()
			r.Groups = []string{grp, "missing"}
			return r
		}, func(_ *oracleState, r kmsg.Response) string {
			var out []string
			for _, g := range r.(*kmsg.DeleteGroupsResponse).Groups {
				out = append(out, code(g.ErrorCode))
			}
			return strings.Join(out, " ")
		}},
		{"fetch deleted", func(*oracleState) kmsg.Request { return fetchReq(8, grp, "t", 0, 1) }, fetchNorm},
		{"sync unknown group", func(*oracleState) kmsg.Request { return syncReq(5, "missing", "m", 1, nil) },
			func(_ *oracleState, r kmsg.Response) string { return code(syncCode(r)) }},
		{"join unknown member", func(*oracleState) kmsg.Request { return joinReq(9, grp, "nobody") },
			func(_ *oracleState, r kmsg.Response) string { return code(joinCode(r)) }},
		// Static membership (KIP-345).
		{"static join", func(*oracleState) kmsg.Request { return joinReq(9, "os", "", withInstance("i")) },
			func(s *oracleState, r kmsg.Response) string {
				j := r.(*kmsg.JoinGroupResponse)
				s.staticID = j.MemberID
				return fmt.Sprintf("%s gen=%d leader=%v members=%d", code(j.ErrorCode), j.Generation, j.LeaderID == j.MemberID, len(j.Members))
			}},
		{"static sync", func(s *oracleState) kmsg.Request {
			return syncReq(5, "os", s.staticID, 1, map[string][]byte{s.staticID: consumerAssignment("t", 0)})
		}, func(_ *oracleState, r kmsg.Response) string { return code(syncCode(r)) }},
		{"static restart", func(*oracleState) kmsg.Request { return joinReq(9, "os", "", withInstance("i")) },
			func(s *oracleState, r kmsg.Response) string {
				j := r.(*kmsg.JoinGroupResponse)
				s.static2 = j.MemberID
				return fmt.Sprintf("%s gen=%d newID=%v leaderIsOldID=%v", code(j.ErrorCode), j.Generation, j.MemberID != s.staticID, j.LeaderID == s.staticID)
			}},
		{"static restarted sync", func(s *oracleState) kmsg.Request { return syncReq(5, "os", s.static2, 1, nil) },
			func(_ *oracleState, r kmsg.Response) string {
				sr := r.(*kmsg.SyncGroupResponse)
				return fmt.Sprintf("%s %x", code(sr.ErrorCode), sr.MemberAssignment)
			}},
		{"static old id heartbeat", func(s *oracleState) kmsg.Request {
			r := heartbeatReq(4, "os", s.staticID, 1)
			i := "i"
			r.InstanceID = &i
			return r
		}, hbNorm},
		{"static old id commit", func(s *oracleState) kmsg.Request {
			r := commitReq(0, "", "", 0, "t", map[int32]int64{0: 1})
			r.Group, r.MemberID, r.Generation = "os", s.staticID, 1
			i := "i"
			r.InstanceID = &i
			return r
		}, commitNorm},
		{"static leave by instance", func(*oracleState) kmsg.Request {
			r := kmsg.NewPtrLeaveGroupRequest()
			r.Group = "os"
			i, j := "i", "j"
			r.Members = []kmsg.LeaveGroupRequestMember{{InstanceID: &j}, {InstanceID: &i}}
			return r
		}, func(_ *oracleState, r kmsg.Response) string {
			lr := r.(*kmsg.LeaveGroupResponse)
			out := []string{code(lr.ErrorCode)}
			for _, m := range lr.Members {
				out = append(out, code(m.ErrorCode))
			}
			return strings.Join(out, " ")
		}},
		{"static describe after leave", describe("os"), describeNorm},
	}
}

func derefOrNil(s *string) string {
	if s == nil {
		return "<nil>"
	}
	return *s
}

func codeList(cs []int16) []string {
	out := make([]string, len(cs))
	for i, c := range cs {
		out[i] = code(c)
	}
	return out
}

func runScript(t *testing.T, target oracleTarget) []string {
	t.Helper()
	var st oracleState
	var out []string
	for _, step := range oracleScript() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		resp, err := target(ctx, step.build(&st))
		cancel()
		if err != nil {
			out = append(out, step.name+": error "+err.Error())
			continue
		}
		out = append(out, step.name+": "+step.norm(&st, resp))
	}
	return out
}

// TestOracleKfake runs one request script against kfake (franz-go's Kafka
// model) and against the coordinator, and diffs the normalized answers.
func TestOracleKfake(t *testing.T) {
	t.Parallel()
	fake, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(2, "t"))
	if err != nil {
		t.Fatal(err)
	}
	defer fake.Close()
	cl, err := kgo.NewClient(kgo.SeedBrokers(fake.ListenAddrs()...), kgo.MaxVersions(kversion.V3_8_0()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	want := runScript(t, func(ctx context.Context, req kmsg.Request) (kmsg.Response, error) {
		return cl.Request(ctx, req)
	})

	var got []string
	run(t, func(t *testing.T) {
		h := start(t, nil, WithTopics(fakeTopics{"t": {id: [16]byte{1}, partitions: 2}}))
		got = runScript(t, func(ctx context.Context, req kmsg.Request) (kmsg.Response, error) {
			req.SetVersion(min(req.MaxVersion(), versionAs(want, req)))
			return h.c.Handle(WithClient(h.ctx, "client", "/127.0.0.1"), req)
		})
	})
	for i := range want {
		if i < len(got) {
			if w, ok := knownDifferences[got[i]]; ok && w == want[i] {
				continue
			}
		}
		if i >= len(got) || got[i] != want[i] {
			g := "<missing>"
			if i < len(got) {
				g = got[i]
			}
			t.Errorf("step %d differs:\n  kfake: %s\n  group: %s", i, want[i], g)
		}
	}
}

// knownDifferences maps our answer to kfake's where Apache Kafka (4.x
// GroupMetadataManager/ClassicGroup, which we follow) differs from kfake.
var knownDifferences = map[string]string{
	// ClassicGroup.validateOffsetCommit validates the member before the
	// generation: a member id unknown to an Empty group is UNKNOWN_MEMBER_ID.
	"member commit on empty group: [UNKNOWN_MEMBER_ID]": "member commit on empty group: [ILLEGAL_GENERATION]",
	// OffsetMetadataManager.fetchOffsets answers -1 for every partition of a
	// group that does not exist, without an error.
	"fetch deleted: OK t/0=-1(OK) t/1=-1(OK)": "fetch deleted: GROUP_ID_NOT_FOUND",
	// getOrMaybeCreateClassicGroup throws UnknownMemberIdException for a
	// missing group (older clients treat GROUP_ID_NOT_FOUND in SyncGroup as fatal).
	"sync unknown group: UNKNOWN_MEMBER_ID": "sync unknown group: GROUP_ID_NOT_FOUND",
}

// versionAs pins our requests to what Kafka 3.8 (the kfake run) speaks.
func versionAs(_ []string, req kmsg.Request) int16 {
	v := kversion.V3_8_0()
	max, _ := v.LookupMaxKeyVersion(req.Key())
	return max
}
