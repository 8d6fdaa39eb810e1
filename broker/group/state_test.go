package group

import (
	"context"
	"errors"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func TestJoinSyncHeartbeat(t *testing.T) {
	t.Parallel()
	for _, v := range []int16{4, 5, 6, 7, 8, 9} {
		t.Run("v"+string(rune('0'+v)), func(t *testing.T) {
			t.Parallel()
			run(t, func(t *testing.T) {
				h := start(t, nil)
				a, b := h.newID(v, "g"), h.newID(v, "g")
				ca, cb := h.joinAsync(v, "g", a), h.joinAsync(v, "g", b)
				ra := recv[*kmsg.JoinGroupResponse](t, ca)
				rb := recv[*kmsg.JoinGroupResponse](t, cb)
				if ra.ErrorCode != 0 || rb.ErrorCode != 0 || ra.Generation != 1 || rb.Generation != 1 {
					t.Fatalf("joins: %+v %+v", ra, rb)
				}
				if ra.LeaderID != a || rb.LeaderID != a {
					t.Fatalf("leader %q/%q, want first member %q", ra.LeaderID, rb.LeaderID, a)
				}
				if len(ra.Members) != 2 || len(rb.Members) != 0 {
					t.Fatalf("leader got %d members, follower %d", len(ra.Members), len(rb.Members))
				}
				if ra.Protocol == nil || *ra.Protocol != "range" {
					t.Fatalf("protocol %v", ra.Protocol)
				}
				if v >= 7 && (ra.ProtocolType == nil || *ra.ProtocolType != "consumer") {
					t.Fatalf("protocol type %v", ra.ProtocolType)
				}
				if got := h.state("g"); got != StateCompletingRebalance {
					t.Fatalf("state %v", got)
				}
				// Heartbeats are fine while the leader computes the assignment.
				if r := h.do(heartbeatReq(3, "g", b, 1)).(*kmsg.HeartbeatResponse); r.ErrorCode != 0 {
					t.Fatalf("heartbeat in CompletingRebalance: %d", r.ErrorCode)
				}
				sb := h.async(syncReq(3, "g", b, 1, nil))
				blocked(t, sb)
				sa := h.async(syncReq(3, "g", a, 1, map[string][]byte{a: consumerAssignment("t", 0), b: consumerAssignment("t", 1)}))
				rsa := recv[*kmsg.SyncGroupResponse](t, sa)
				rsb := recv[*kmsg.SyncGroupResponse](t, sb)
				if rsa.ErrorCode != 0 || rsb.ErrorCode != 0 || string(rsb.MemberAssignment) != string(consumerAssignment("t", 1)) {
					t.Fatalf("syncs: %+v %+v", rsa, rsb)
				}
				if got := h.state("g"); got != StateStable {
					t.Fatalf("state %v", got)
				}
				d, _ := h.c.Describe("g")
				if len(d.Members) != 2 || d.Protocol != "range" || d.Generation != 1 {
					t.Fatalf("describe: %+v", d)
				}
				for _, m := range d.Members {
					want := int32(0)
					if m.MemberID == b {
						want = 1
					}
					if len(m.Partitions) != 1 || m.Partitions[0].Topic != "t" || m.Partitions[0].Partitions[0] != want {
						t.Fatalf("member %s partitions %+v", m.MemberID, m.Partitions)
					}
				}
				for i := 0; i < 5; i++ {
					time.Sleep(5 * time.Second)
					for _, id := range []string{a, b} {
						if r := h.do(heartbeatReq(4, "g", id, 1)).(*kmsg.HeartbeatResponse); r.ErrorCode != 0 {
							t.Fatalf("heartbeat: %d", r.ErrorCode)
						}
					}
				}
				if got := h.state("g"); got != StateStable {
					t.Fatalf("state after heartbeats %v", got)
				}
			})
		})
	}
}

func TestJoinOldVersions(t *testing.T) {
	t.Parallel()
	for _, v := range []int16{0, 1, 2, 3} {
		t.Run(string(rune('0'+v)), func(t *testing.T) {
			t.Parallel()
			run(t, func(t *testing.T) {
				h := start(t, nil)
				r := recv[*kmsg.JoinGroupResponse](t, h.async(joinReq(v, "g", "")))
				if r.ErrorCode != 0 || r.Generation != 1 || r.MemberID == "" || r.LeaderID != r.MemberID || len(r.Members) != 1 {
					t.Fatalf("join v%d: %+v", v, r)
				}
				s := recv[*kmsg.SyncGroupResponse](t, h.async(syncReq(0, "g", r.MemberID, 1, map[string][]byte{r.MemberID: []byte("x")})))
				if s.ErrorCode != 0 || string(s.MemberAssignment) != "x" {
					t.Fatalf("sync: %+v", s)
				}
				l := kmsg.NewPtrLeaveGroupRequest()
				l.Group, l.MemberID = "g", r.MemberID
				if lr := h.do(l).(*kmsg.LeaveGroupResponse); lr.ErrorCode != 0 {
					t.Fatalf("leave: %d", lr.ErrorCode)
				}
				if got := h.state("g"); got != StateEmpty {
					t.Fatalf("state after leave %v", got)
				}
				if lr := h.do(l).(*kmsg.LeaveGroupResponse); lr.ErrorCode != kerr.UnknownMemberID.Code {
					t.Fatalf("second leave: %d", lr.ErrorCode)
				}
			})
		})
	}
}

func TestErrors(t *testing.T) {
	t.Parallel()
	run(t, func(t *testing.T) {
		h := start(t, nil)
		ids, gen := h.stableGroup("g", 1)
		a := ids[0]
		cases := []struct {
			name string
			req  kmsg.Request
			code func(kmsg.Response) int16
			want int16
		}{
			{"session too short", joinReq(5, "g", "", withTimeouts(time.Second, time.Second)), joinCode, kerr.InvalidSessionTimeout.Code},
			{"session too long", joinReq(5, "g", "", withTimeouts(time.Hour, time.Second)), joinCode, kerr.InvalidSessionTimeout.Code},
			{"empty group id", joinReq(5, "", ""), joinCode, kerr.InvalidGroupID.Code},
			{"protocol mismatch", joinReq(5, "g", "", withProtocols("sticky")), joinCode, kerr.InconsistentGroupProtocol.Code},
			{"unknown member join", joinReq(5, "g", "nobody"), joinCode, kerr.UnknownMemberID.Code},
			{"unknown group join", joinReq(5, "other", "nobody"), joinCode, kerr.UnknownMemberID.Code},
			{"heartbeat unknown group", heartbeatReq(0, "other", a, gen), hbCode, kerr.UnknownMemberID.Code},
			{"heartbeat unknown member", heartbeatReq(0, "g", "x", gen), hbCode, kerr.UnknownMemberID.Code},
			{"heartbeat old generation", heartbeatReq(0, "g", a, gen-1), hbCode, kerr.IllegalGeneration.Code},
			{"sync old generation", syncReq(0, "g", a, gen+1, nil), syncCode, kerr.IllegalGeneration.Code},
			{"sync unknown member", syncReq(0, "g", "x", gen, nil), syncCode, kerr.UnknownMemberID.Code},
			{"sync wrong protocol v5", func() kmsg.Request {
				r := syncReq(5, "g", a, gen, nil)
				p := "sticky"
				r.Protocol = &p
				return r
			}(), syncCode, kerr.InconsistentGroupProtocol.Code},
		}
		for _, tc := range cases {
			if got := tc.code(h.do(tc.req)); got != tc.want {
				t.Errorf("%s: code %d, want %d", tc.name, got, tc.want)
			}
		}
	})
}

func joinCode(r kmsg.Response) int16 { return r.(*kmsg.JoinGroupResponse).ErrorCode }
func hbCode(r kmsg.Response) int16   { return r.(*kmsg.HeartbeatResponse).ErrorCode }
func syncCode(r kmsg.Response) int16 { return r.(*kmsg.SyncGroupResponse).ErrorCode }

func TestLoadInProgress(t *testing.T) {
	t.Parallel()
	c := New(&MemStore{})
	ctx := t.Context()
	resp, err := c.Handle(ctx, joinReq(5, "g", ""))
	if err != nil || joinCode(resp) != kerr.CoordinatorLoadInProgress.Code {
		t.Fatalf("join before load: %v %v", resp, err)
	}
	hb, _ := c.Handle(ctx, heartbeatReq(1, "g", "m", 1))
	if hbCode(hb) != 0 { // Kafka answers heartbeats blindly while loading
		t.Fatalf("heartbeat before load: %d", hbCode(hb))
	}
	sy, _ := c.Handle(ctx, syncReq(1, "g", "m", 1, nil))
	if syncCode(sy) != kerr.RebalanceInProgress.Code {
		t.Fatalf("sync before load: %d", syncCode(sy))
	}
	if _, err := c.Describe("g"); err != ErrLoading {
		t.Fatalf("Describe before load: %v", err)
	}
	if _, err := c.Handle(ctx, kmsg.NewPtrProduceRequest()); err == nil {
		t.Fatal("Produce: want ErrUnsupportedRequest")
	}
}

func TestSessionExpiry(t *testing.T) {
	t.Parallel()
	run(t, func(t *testing.T) {
		h := start(t, nil)
		ids, gen := h.stableGroup("g", 2)
		alive := ids[1]
		// Only the follower heartbeats; the leader's 10s session lapses.
		var code int16
		for range 4 {
			time.Sleep(3 * time.Second)
			code = hbCode(h.do(heartbeatReq(4, "g", alive, gen)))
		}
		if code != kerr.RebalanceInProgress.Code {
			t.Fatalf("heartbeat after leader expiry: %d, want REBALANCE_IN_PROGRESS", code)
		}
		r := recv[*kmsg.JoinGroupResponse](t, h.async(joinReq(5, "g", alive)))
		if r.ErrorCode != 0 || r.Generation != gen+1 || r.LeaderID != alive || len(r.Members) != 1 {
			t.Fatalf("rejoin: %+v", r)
		}
		if hbCode(h.do(heartbeatReq(4, "g", ids[0], gen))) != kerr.UnknownMemberID.Code {
			t.Fatal("expired member still known")
		}
		// Then the last member expires too: the group ends Empty.
		time.Sleep(time.Minute)
		if got := h.state("g"); got != StateEmpty {
			t.Fatalf("state %v, want Empty", got)
		}
	})
}

func TestRebalanceTimeoutRemovesLaggards(t *testing.T) {
	t.Parallel()
	run(t, func(t *testing.T) {
		h := start(t, nil)
		ids, gen := h.stableGroup("g", 1, withTimeouts(30*time.Second, 20*time.Second))
		old := ids[0]
		// A new member joins; the old one keeps heartbeating but never rejoins.
		_, cnew := h.joinNew(5, "g", withTimeouts(30*time.Second, 20*time.Second))
		blocked(t, cnew)
		if hbCode(h.do(heartbeatReq(4, "g", old, gen))) != kerr.RebalanceInProgress.Code {
			t.Fatal("want REBALANCE_IN_PROGRESS")
		}
		time.Sleep(10 * time.Second)
		h.do(heartbeatReq(4, "g", old, gen))
		blocked(t, cnew)
		time.Sleep(11 * time.Second)
		r := recv[*kmsg.JoinGroupResponse](t, cnew)
		if r.ErrorCode != 0 || r.Generation != gen+1 || len(r.Members) != 1 || r.LeaderID != r.MemberID {
			t.Fatalf("join after rebalance timeout: %+v", r)
		}
		if hbCode(h.do(heartbeatReq(4, "g", old, gen))) != kerr.UnknownMemberID.Code {
			t.Fatal("laggard still in the group")
		}
	})
}

func TestSyncTimeoutRemovesSilentLeader(t *testing.T) {
	t.Parallel()
	run(t, func(t *testing.T) {
		h := start(t, nil)
		to := withTimeouts(30*time.Second, 20*time.Second)
		a, b := h.newID(5, "g", to), h.newID(5, "g", to)
		ca, cb := h.joinAsync(5, "g", a, to), h.joinAsync(5, "g", b, to)
		ra := recv[*kmsg.JoinGroupResponse](t, ca)
		recv[*kmsg.JoinGroupResponse](t, cb)
		if ra.LeaderID != a {
			t.Fatalf("leader %s", ra.LeaderID)
		}
		sb := h.async(syncReq(3, "g", b, 1, nil))
		blocked(t, sb)
		time.Sleep(21 * time.Second) // the leader never sends SyncGroup
		if r := recv[*kmsg.SyncGroupResponse](t, sb); r.ErrorCode != kerr.RebalanceInProgress.Code {
			t.Fatalf("follower sync: %d", r.ErrorCode)
		}
		r := recv[*kmsg.JoinGroupResponse](t, h.async(joinReq(5, "g", b)))
		if r.Generation != 2 || r.LeaderID != b || len(r.Members) != 1 {
			t.Fatalf("rejoin: %+v", r)
		}
	})
}

func TestJoinHonoursContext(t *testing.T) {
	t.Parallel()
	run(t, func(t *testing.T) {
		h := start(t, nil)
		h.stableGroup("g", 1)
		ctx, cancel := contextWithCancel(h)
		done := make(chan error, 1)
		go func() {
			first, _ := h.c.Handle(ctx, joinReq(5, "g", ""))
			_, err := h.c.Handle(ctx, joinReq(5, "g", first.(*kmsg.JoinGroupResponse).MemberID))
			done <- err
		}()
		time.Sleep(time.Second)
		cancel()
		if err := <-done; err == nil {
			t.Fatal("blocked JoinGroup returned no error after cancel")
		}
		// Another group is not blocked by the waiting one.
		other := recv[*kmsg.JoinGroupResponse](t, h.async(joinReq(3, "other", "")))
		if other.ErrorCode != 0 {
			t.Fatalf("other group: %d", other.ErrorCode)
		}
	})
}

func TestLeaveBatchAndStatic(t *testing.T) {
	t.Parallel()
	run(t, func(t *testing.T) {
		h := start(t, nil)
		r := recv[*kmsg.JoinGroupResponse](t, h.async(joinReq(5, "g", "", withInstance("i1"))))
		if r.ErrorCode != 0 {
			t.Fatalf("static join: %+v", r)
		}
		dyn := h.joinAsync(3, "g", "")
		recv[*kmsg.JoinGroupResponse](t, h.async(joinReq(5, "g", r.MemberID, withInstance("i1"))))
		recv[*kmsg.JoinGroupResponse](t, dyn)
		l := kmsg.NewPtrLeaveGroupRequest()
		l.Version = 3
		l.Group = "g"
		i1, i9 := "i1", "i9"
		l.Members = []kmsg.LeaveGroupRequestMember{
			{InstanceID: &i9},
			{MemberID: "wrong", InstanceID: &i1},
			{MemberID: "nobody"},
		}
		lr := h.do(l).(*kmsg.LeaveGroupResponse)
		if lr.ErrorCode != 0 || len(lr.Members) != 3 ||
			lr.Members[0].ErrorCode != kerr.UnknownMemberID.Code ||
			lr.Members[1].ErrorCode != kerr.FencedInstanceID.Code ||
			lr.Members[2].ErrorCode != kerr.UnknownMemberID.Code {
			t.Fatalf("leave: %+v", lr)
		}
		l.Members = []kmsg.LeaveGroupRequestMember{{InstanceID: &i1}}
		if r := h.do(l).(*kmsg.LeaveGroupResponse); r.Members[0].ErrorCode != 0 {
			t.Fatalf("leave by instance id: %+v", r)
		}
		d, _ := h.c.Describe("g")
		if d.State != StatePreparingRebalance || len(d.Members) != 1 || d.Members[0].InstanceID != "" {
			t.Fatalf("after leave: %+v", d)
		}
	})
}

func TestStaticMemberRejoinWithoutRebalance(t *testing.T) {
	t.Parallel()
	run(t, func(t *testing.T) {
		h := start(t, nil)
		// Static members skip MEMBER_ID_REQUIRED.
		ra := recv[*kmsg.JoinGroupResponse](t, h.async(joinReq(5, "g", "", withInstance("a"))))
		if ra.ErrorCode != 0 || ra.Generation != 1 {
			t.Fatalf("static join: %+v", ra)
		}
		recv[*kmsg.SyncGroupResponse](t, h.async(syncReq(3, "g", ra.MemberID, 1, map[string][]byte{ra.MemberID: consumerAssignment("t", 0, 1)})))
		// The same instance restarts: new member id, same generation, no rebalance.
		rb := recv[*kmsg.JoinGroupResponse](t, h.async(joinReq(5, "g", "", withInstance("a"))))
		if rb.ErrorCode != 0 || rb.Generation != 1 || rb.MemberID == ra.MemberID {
			t.Fatalf("static rejoin: %+v", rb)
		}
		if rb.LeaderID != ra.MemberID {
			t.Fatalf("static rejoin leader %q, want the persisted old id %q", rb.LeaderID, ra.MemberID)
		}
		if got := h.state("g"); got != StateStable {
			t.Fatalf("state %v, want Stable", got)
		}
		s := recv[*kmsg.SyncGroupResponse](t, h.async(syncReq(3, "g", rb.MemberID, 1, nil)))
		if s.ErrorCode != 0 || string(s.MemberAssignment) != string(consumerAssignment("t", 0, 1)) {
			t.Fatalf("sync after rejoin: %+v", s)
		}
		// The old id is fenced.
		hb := heartbeatReq(3, "g", ra.MemberID, 1)
		a := "a"
		hb.InstanceID = &a
		if code := hbCode(h.do(hb)); code != kerr.FencedInstanceID.Code {
			t.Fatalf("stale member heartbeat: %d", code)
		}
		j := joinReq(5, "g", ra.MemberID, withInstance("a"))
		if code := joinCode(h.do(j)); code != kerr.FencedInstanceID.Code {
			t.Fatalf("stale member join: %d", code)
		}
		// Rejoining with another protocol changes the selection: rebalance.
		ch := h.async(joinReq(5, "g", "", withInstance("a"), withProtocols("sticky")))
		r := recv[*kmsg.JoinGroupResponse](t, ch)
		if r.ErrorCode != 0 || r.Generation != 2 || *r.Protocol != "sticky" {
			t.Fatalf("rejoin with new protocol: %+v", r)
		}
	})
}

func TestInitialRebalanceDelay(t *testing.T) {
	t.Parallel()
	run(t, func(t *testing.T) {
		cfg := testConfig()
		cfg.InitialRebalanceDelay = 3 * time.Second
		h := start(t, nil, WithConfig(cfg))
		c1 := h.async(joinReq(3, "g", ""))
		time.Sleep(2 * time.Second)
		c2 := h.async(joinReq(3, "g", ""))
		time.Sleep(2 * time.Second) // the first window ended; a member came, so it extends
		blocked(t, c1)
		time.Sleep(2 * time.Second)
		r1 := recv[*kmsg.JoinGroupResponse](t, c1)
		r2 := recv[*kmsg.JoinGroupResponse](t, c2)
		if r1.Generation != 1 || r2.Generation != 1 || (len(r1.Members)+len(r2.Members)) != 2 {
			t.Fatalf("one generation with both members expected: %+v %+v", r1, r2)
		}
	})
}

func TestProtocolSelection(t *testing.T) {
	t.Parallel()
	run(t, func(t *testing.T) {
		h := start(t, nil)
		cfg := testConfig()
		cfg.InitialRebalanceDelay = time.Second
		h.stop()
		h = start(t, nil, WithConfig(cfg))
		c1 := h.async(joinReq(3, "g", "", withProtocols("cooperative-sticky", "range")))
		synctest.Wait()
		c2 := h.async(joinReq(3, "g", "", withProtocols("range", "cooperative-sticky")))
		time.Sleep(2 * time.Second)
		r1 := recv[*kmsg.JoinGroupResponse](t, c1)
		recv[*kmsg.JoinGroupResponse](t, c2)
		// Votes tie 1:1; the leader's preference wins.
		if r1.Protocol == nil || *r1.Protocol != "cooperative-sticky" {
			t.Fatalf("protocol %v", r1.Protocol)
		}
	})
}

func TestLeaderRejoinTriggersRebalance(t *testing.T) {
	t.Parallel()
	run(t, func(t *testing.T) {
		h := start(t, nil)
		ids, gen := h.stableGroup("g", 2)
		leader, follower := ids[0], ids[1]
		// A follower rejoining unchanged gets the current generation back.
		r := recv[*kmsg.JoinGroupResponse](t, h.async(joinReq(5, "g", follower)))
		if r.ErrorCode != 0 || r.Generation != gen {
			t.Fatalf("follower rejoin: %+v", r)
		}
		cl := h.async(joinReq(5, "g", leader))
		blocked(t, cl)
		if h.state("g") != StatePreparingRebalance {
			t.Fatal("leader rejoin did not rebalance")
		}
		cf := h.async(joinReq(5, "g", follower))
		rl := recv[*kmsg.JoinGroupResponse](t, cl)
		recv[*kmsg.JoinGroupResponse](t, cf)
		if rl.Generation != gen+1 || len(rl.Members) != 2 {
			t.Fatalf("leader rejoin: %+v", rl)
		}
	})
}

func TestStopReleasesWaiters(t *testing.T) {
	t.Parallel()
	run(t, func(t *testing.T) {
		h := start(t, nil)
		ids, gen := h.stableGroup("g", 2)
		// Waits for ids[1] to rejoin; its ctx outlives the coordinator.
		cj := make(chan kmsg.Response, 1)
		go func() {
			resp, _ := h.c.Handle(t.Context(), joinReq(5, "g", ids[0]))
			cj <- resp
		}()
		blocked(t, cj)
		h.stop()
		if r := recv[*kmsg.JoinGroupResponse](t, cj); r.ErrorCode != kerr.NotCoordinator.Code {
			t.Fatalf("waiting join after stop: %d", r.ErrorCode)
		}
		resp, err := h.c.Handle(t.Context(), heartbeatReq(4, "g", ids[1], gen))
		if err != nil || hbCode(resp) != kerr.NotCoordinator.Code {
			t.Fatalf("heartbeat after stop: %v %v", resp, err)
		}
	})
}

func TestMetricsRegister(t *testing.T) {
	t.Parallel()
	run(t, func(t *testing.T) {
		reg := prometheus.NewPedanticRegistry()
		h := start(t, nil, WithRegisterer(reg))
		h.stableGroup("g", 1)
		h.do(commitReq(8, "s", "", -1, "t", map[int32]int64{0: 1, 1: 1}))
		mfs, err := reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]float64{}
		for _, mf := range mfs {
			for _, m := range mf.GetMetric() {
				key := mf.GetName()
				for _, l := range m.GetLabel() {
					key += "/" + l.GetValue()
				}
				got[key] = m.GetGauge().GetValue() + m.GetCounter().GetValue()
			}
		}
		if got["sluice_group_groups/Stable"] != 1 || got["sluice_group_groups/Empty"] != 1 ||
			got["sluice_group_offset_commits_total"] != 2 || got["sluice_group_rebalances_total"] != 1 {
			t.Fatalf("metrics: %v", got)
		}
	})
}

// TestRequestBytesNotRetained: decoded byte fields alias the server's frame
// buffer, so the coordinator must copy what it keeps.
func TestRequestBytesNotRetained(t *testing.T) {
	t.Parallel()
	run(t, func(t *testing.T) {
		h := start(t, nil)
		j := joinReq(3, "g", "")
		meta := j.Protocols[0].Metadata
		r := recv[*kmsg.JoinGroupResponse](t, h.async(j))
		assignment := consumerAssignment("t", 0)
		s := syncReq(3, "g", r.MemberID, r.Generation, map[string][]byte{r.MemberID: assignment})
		recv[*kmsg.SyncGroupResponse](t, h.async(s))
		want, wantA := string(meta), string(assignment)
		for i := range meta {
			meta[i] = 0xff
		}
		for i := range assignment {
			assignment[i] = 0xff
		}
		d, _ := h.c.Describe("g")
		if string(d.Members[0].Metadata) != want || string(d.Members[0].Assignment) != wantA {
			t.Fatal("coordinator kept request bytes")
		}
	})
}

func TestStaticMemberReplacedMidRebalance(t *testing.T) {
	t.Parallel()
	run(t, func(t *testing.T) {
		h := start(t, nil)
		// Two static members, generation 1 in CompletingRebalance.
		ra := h.joinAsync(5, "g", "", withInstance("a"))
		ra1 := recv[*kmsg.JoinGroupResponse](t, ra)
		recv[*kmsg.SyncGroupResponse](t, h.async(syncReq(3, "g", ra1.MemberID, 1, map[string][]byte{ra1.MemberID: []byte("x")})))
		cb := h.joinAsync(5, "g", "", withInstance("b"))
		ca := h.joinAsync(5, "g", ra1.MemberID, withInstance("a"))
		rb := recv[*kmsg.JoinGroupResponse](t, cb)
		recv[*kmsg.JoinGroupResponse](t, ca)
		if h.state("g") != StateCompletingRebalance || rb.Generation != 2 {
			t.Fatalf("state %v gen %d", h.state("g"), rb.Generation)
		}
		// b waits in SyncGroup; b restarts (new member id) before the leader syncs.
		sb := h.async(syncReq(3, "g", rb.MemberID, 2, nil))
		blocked(t, sb)
		cb2 := h.joinAsync(5, "g", "", withInstance("b"))
		if r := recv[*kmsg.SyncGroupResponse](t, sb); r.ErrorCode != kerr.FencedInstanceID.Code {
			t.Fatalf("old b's sync: %d, want FENCED_INSTANCE_ID", r.ErrorCode)
		}
		if h.state("g") != StatePreparingRebalance {
			t.Fatalf("state %v, want PreparingRebalance", h.state("g"))
		}
		// b restarts once more while the group prepares: the waiting join is fenced.
		cb3 := h.joinAsync(5, "g", "", withInstance("b"))
		if r := recv[*kmsg.JoinGroupResponse](t, cb2); r.ErrorCode != kerr.FencedInstanceID.Code {
			t.Fatalf("second b's join: %d, want FENCED_INSTANCE_ID", r.ErrorCode)
		}
		ca2 := h.joinAsync(5, "g", ra1.MemberID, withInstance("a"))
		r3 := recv[*kmsg.JoinGroupResponse](t, cb3)
		ra3 := recv[*kmsg.JoinGroupResponse](t, ca2)
		if r3.ErrorCode != 0 || r3.Generation != 3 || ra3.Generation != 3 || len(ra3.Members) != 2 {
			t.Fatalf("gen 3: %+v %+v", r3, ra3)
		}
		if !strings.HasPrefix(r3.MemberID, "b-") {
			t.Fatalf("static member id %q should start with its instance id", r3.MemberID)
		}
	})
}

func TestStaticRejoinStoreFailureKeepsOldID(t *testing.T) {
	t.Parallel()
	run(t, func(t *testing.T) {
		h := start(t, nil)
		r := recv[*kmsg.JoinGroupResponse](t, h.async(joinReq(5, "g", "", withInstance("a"))))
		recv[*kmsg.SyncGroupResponse](t, h.async(syncReq(3, "g", r.MemberID, 1, map[string][]byte{r.MemberID: []byte("x")})))
		h.store.FailWith(errors.New("disk full"))
		if code := joinCode(h.do(joinReq(5, "g", "", withInstance("a")))); code != kerr.CoordinatorNotAvailable.Code {
			t.Fatalf("rejoin with failing store: %d", code)
		}
		h.store.FailWith(nil)
		hb := heartbeatReq(3, "g", r.MemberID, 1)
		a := "a"
		hb.InstanceID = &a
		if code := hbCode(h.do(hb)); code != 0 {
			t.Fatalf("old id after failed replacement: %d", code)
		}
	})
}

func TestStaticMemberSessionExpiry(t *testing.T) {
	t.Parallel()
	run(t, func(t *testing.T) {
		h := start(t, nil)
		r := recv[*kmsg.JoinGroupResponse](t, h.async(joinReq(5, "g", "", withInstance("a"))))
		recv[*kmsg.SyncGroupResponse](t, h.async(syncReq(3, "g", r.MemberID, 1, nil)))
		time.Sleep(11 * time.Second)
		if s := h.state("g"); s != StateEmpty {
			t.Fatalf("state %v, want Empty", s)
		}
		// The instance comes back as a brand-new member.
		r2 := recv[*kmsg.JoinGroupResponse](t, h.async(joinReq(5, "g", "", withInstance("a"))))
		if r2.ErrorCode != 0 || r2.Generation != 3 || r2.LeaderID != r2.MemberID {
			t.Fatalf("rejoin after expiry: %+v", r2)
		}
	})
}

func TestFetchBeforeLoadPerPartition(t *testing.T) {
	t.Parallel()
	c := New(&MemStore{})
	for _, v := range []int16{0, 1, 2, 8} {
		resp, err := c.Handle(t.Context(), fetchReq(v, "g", "t", 0, 1))
		if err != nil {
			t.Fatal(err)
		}
		r := resp.(*kmsg.OffsetFetchResponse)
		switch {
		case v < 2:
			if len(r.Topics) != 1 || r.Topics[0].Partitions[1].ErrorCode != kerr.CoordinatorLoadInProgress.Code {
				t.Fatalf("v%d: %+v", v, r)
			}
		case v < 8:
			if r.ErrorCode != kerr.CoordinatorLoadInProgress.Code {
				t.Fatalf("v%d: %+v", v, r)
			}
		default:
			if r.Groups[0].ErrorCode != kerr.CoordinatorLoadInProgress.Code {
				t.Fatalf("v%d: %+v", v, r)
			}
		}
	}
}

func TestStaticLeaderRestartV9SkipsAssignment(t *testing.T) {
	t.Parallel()
	run(t, func(t *testing.T) {
		h := start(t, nil)
		r := recv[*kmsg.JoinGroupResponse](t, h.async(joinReq(9, "g", "", withInstance("a"))))
		recv[*kmsg.SyncGroupResponse](t, h.async(syncReq(5, "g", r.MemberID, 1, map[string][]byte{r.MemberID: []byte("x")})))
		r2 := recv[*kmsg.JoinGroupResponse](t, h.async(joinReq(9, "g", "", withInstance("a"))))
		if r2.ErrorCode != 0 || r2.Generation != 1 || r2.LeaderID != r2.MemberID || !r2.SkipAssignment || len(r2.Members) != 1 {
			t.Fatalf("v9 static leader restart: %+v", r2)
		}
		if h.state("g") != StateStable {
			t.Fatalf("state %v", h.state("g"))
		}
	})
}

func TestAbsentStaticMemberSurvivesJoinPhase(t *testing.T) {
	t.Parallel()
	run(t, func(t *testing.T) {
		h := start(t, nil)
		to := withTimeouts(30*time.Second, 10*time.Second)
		a := recv[*kmsg.JoinGroupResponse](t, h.async(joinReq(5, "g", "", withInstance("a"), to)))
		recv[*kmsg.SyncGroupResponse](t, h.async(syncReq(3, "g", a.MemberID, 1, nil)))
		// A dynamic member joins; the static one is away and never rejoins.
		cb := h.joinAsync(3, "g", "", to)
		time.Sleep(11 * time.Second)
		rb := recv[*kmsg.JoinGroupResponse](t, cb)
		if rb.ErrorCode != 0 || rb.Generation != 2 || rb.LeaderID != rb.MemberID || len(rb.Members) != 2 {
			t.Fatalf("join without the static member: %+v", rb)
		}
		// It is still a member, until it misses SyncGroup too.
		if d, _ := h.c.Describe("g"); len(d.Members) != 2 {
			t.Fatalf("static member dropped at join: %+v", d)
		}
		recv[*kmsg.SyncGroupResponse](t, h.async(syncReq(3, "g", rb.MemberID, 2, nil)))
		time.Sleep(11 * time.Second)
		if d, _ := h.c.Describe("g"); len(d.Members) != 1 || d.State != StatePreparingRebalance {
			t.Fatalf("after the sync timeout: %+v", d)
		}
	})
}

func TestNewMemberJoinTimeout(t *testing.T) {
	t.Parallel()
	run(t, func(t *testing.T) {
		h := start(t, nil)
		to := withTimeouts(10*time.Second, 10*time.Minute)
		ids, gen := h.stableGroup("g", 1, to)
		cb := h.joinAsync(3, "g", "", to) // waits: the old member never rejoins
		for range 62 {                    // the old member heartbeats for 5m10s
			time.Sleep(5 * time.Second)
			h.do(heartbeatReq(4, "g", ids[0], gen))
		}
		if r := recv[*kmsg.JoinGroupResponse](t, cb); r.ErrorCode != kerr.UnknownMemberID.Code {
			t.Fatalf("new member after 5 minutes: %+v", r)
		}
	})
}

func TestSyncResetsSessions(t *testing.T) {
	t.Parallel()
	run(t, func(t *testing.T) {
		h := start(t, nil)
		to := withTimeouts(10*time.Second, time.Minute)
		a, b := h.newID(5, "g", to), h.newID(5, "g", to)
		ca, cb := h.joinAsync(5, "g", a, to), h.joinAsync(5, "g", b, to)
		recv[*kmsg.JoinGroupResponse](t, ca)
		recv[*kmsg.JoinGroupResponse](t, cb)
		sb := h.async(syncReq(3, "g", b, 1, nil))
		for range 3 { // the leader thinks for 15s, heartbeating
			time.Sleep(5 * time.Second)
			h.do(heartbeatReq(4, "g", a, 1))
		}
		recv[*kmsg.SyncGroupResponse](t, h.async(syncReq(3, "g", a, 1, map[string][]byte{a: {1}, b: {2}})))
		if r := recv[*kmsg.SyncGroupResponse](t, sb); r.ErrorCode != 0 {
			t.Fatalf("follower sync: %d", r.ErrorCode)
		}
		time.Sleep(time.Second)
		if code := hbCode(h.do(heartbeatReq(4, "g", b, 1))); code != 0 {
			t.Fatalf("follower expired right after its sync: %d", code)
		}
	})
}

func TestLoadedOverMaxSize(t *testing.T) {
	t.Parallel()
	run(t, func(t *testing.T) {
		store := &MemStore{}
		h := start(t, store)
		ids, gen := h.stableGroup("g", 3)
		h.stop()
		cfg := testConfig()
		cfg.MaxGroupSize = 2
		h2 := start(t, store, WithConfig(cfg))
		if s := h2.state("g"); s != StatePreparingRebalance {
			t.Fatalf("state %v, want PreparingRebalance", s)
		}
		if code := hbCode(h2.do(heartbeatReq(4, "g", ids[0], gen))); code != kerr.RebalanceInProgress.Code {
			t.Fatalf("heartbeat: %d", code)
		}
		c0 := h2.joinAsync(5, "g", ids[0])
		c1 := h2.joinAsync(5, "g", ids[1])
		if code := joinCode(h2.do(joinReq(5, "g", ids[2]))); code != kerr.GroupMaxSizeReached.Code {
			t.Fatalf("third rejoin: %d, want GROUP_MAX_SIZE_REACHED", code)
		}
		r0 := recv[*kmsg.JoinGroupResponse](t, c0)
		recv[*kmsg.JoinGroupResponse](t, c1)
		if r0.Generation != gen+1 || len(r0.Members) != 2 {
			t.Fatalf("rebalanced group: %+v", r0)
		}
	})
}

func TestRetiredAnswersNotCoordinator(t *testing.T) {
	t.Parallel()
	c := NewRetired()
	ctx := context.Background()
	hb := kmsg.NewPtrHeartbeatRequest()
	hb.Version, hb.Group, hb.MemberID, hb.Generation = 4, "g", "m", 1
	resp, err := c.Handle(ctx, hb)
	if err != nil {
		t.Fatal(err)
	}
	if code := resp.(*kmsg.HeartbeatResponse).ErrorCode; code != kerr.NotCoordinator.Code {
		t.Fatalf("heartbeat on a retired coordinator: code %d, want NOT_COORDINATOR", code)
	}
	oc := kmsg.NewPtrOffsetCommitRequest()
	oc.Version, oc.Group = 8, "g"
	rt := kmsg.NewOffsetCommitRequestTopic()
	rt.Topic = "t"
	rp := kmsg.NewOffsetCommitRequestTopicPartition()
	rt.Partitions = append(rt.Partitions, rp)
	oc.Topics = append(oc.Topics, rt)
	resp, err = c.Handle(ctx, oc)
	if err != nil {
		t.Fatal(err)
	}
	if code := resp.(*kmsg.OffsetCommitResponse).Topics[0].Partitions[0].ErrorCode; code != kerr.NotCoordinator.Code {
		t.Fatalf("commit on a retired coordinator: code %d, want NOT_COORDINATOR", code)
	}
}
