package group

import (
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// op is one step of a state machine script. Members are named by alias
// ("a", "b"); the script runner remembers each alias's member id,
// generation and pending JoinGroup/SyncGroup.
type op struct {
	do    string // id, join, await, blocked, sync, awaitSync, syncBlocked, hb, leave, commit, sleep, state
	m     string // member alias
	inst  string // join: group.instance.id (static member)
	gen   int32  // hb/commit: generation offset from the member's own (0: current)
	d     time.Duration
	want  int16 // expected error code
	state State // state: expected group state
}

type scriptMember struct {
	id     string
	gen    int32
	leader string
	peers  []string
	join   <-chan kmsg.Response
	sync   <-chan kmsg.Response
}

func runOps(t *testing.T, h *harness, ops []op) {
	t.Helper()
	ms := map[string]*scriptMember{}
	get := func(alias string) *scriptMember {
		if ms[alias] == nil {
			ms[alias] = &scriptMember{}
		}
		return ms[alias]
	}
	to := withTimeouts(10*time.Second, 20*time.Second)
	for i, o := range ops {
		m := get(o.m)
		where := fmt.Sprintf("step %d (%s %s)", i, o.do, o.m)
		switch o.do {
		case "id": // the MEMBER_ID_REQUIRED step; no join phase ends while ids are pending
			m.id = h.newID(5, "g", to)
		case "join":
			opts := []joinOpt{to}
			if o.inst != "" {
				opts = append(opts, withInstance(o.inst))
			}
			m.join = h.joinAsync(5, "g", m.id, opts...)
		case "syncBlocked":
			blocked(t, m.sync)
		case "await", "blocked":
			if o.do == "blocked" {
				blocked(t, m.join)
				continue
			}
			r := recv[*kmsg.JoinGroupResponse](t, m.join)
			if r.ErrorCode != o.want {
				t.Fatalf("%s: code %d, want %d", where, r.ErrorCode, o.want)
			}
			if r.ErrorCode == 0 {
				m.id, m.gen, m.leader = r.MemberID, r.Generation, r.LeaderID
				m.peers = m.peers[:0]
				for _, p := range r.Members {
					m.peers = append(m.peers, p.MemberID)
				}
			}
		case "sync":
			var assign map[string][]byte
			if m.leader == m.id {
				assign = map[string][]byte{}
				for _, p := range m.peers {
					assign[p] = []byte(p)
				}
			}
			m.sync = h.async(syncReq(3, "g", m.id, m.gen, assign))
		case "awaitSync":
			r := recv[*kmsg.SyncGroupResponse](t, m.sync)
			if r.ErrorCode != o.want {
				t.Fatalf("%s: code %d, want %d", where, r.ErrorCode, o.want)
			}
			if r.ErrorCode == 0 && string(r.MemberAssignment) != m.id {
				t.Fatalf("%s: assignment %q, want its own id", where, r.MemberAssignment)
			}
		case "hb":
			req := heartbeatReq(4, "g", m.id, m.gen+o.gen)
			if o.inst != "" {
				req.InstanceID = &o.inst
			}
			if code := hbCode(h.do(req)); code != o.want {
				t.Fatalf("%s: code %d, want %d", where, code, o.want)
			}
		case "leave":
			req := kmsg.NewPtrLeaveGroupRequest()
			req.Version = 3
			req.Group = "g"
			req.Members = []kmsg.LeaveGroupRequestMember{{MemberID: m.id}}
			r := h.do(req).(*kmsg.LeaveGroupResponse)
			if r.Members[0].ErrorCode != o.want {
				t.Fatalf("%s: code %d, want %d", where, r.Members[0].ErrorCode, o.want)
			}
		case "commit":
			if codes := commitCodes(h.do(commitReq(8, "g", m.id, m.gen+o.gen, "t", map[int32]int64{0: 1}))); !allCodes(codes, o.want) {
				t.Fatalf("%s: codes %v, want %d", where, codes, o.want)
			}
		case "sleep":
			time.Sleep(o.d)
		case "state":
			if s := h.state("g"); s != o.state {
				t.Fatalf("%s: state %v, want %v", where, s, o.state)
			}
		default:
			t.Fatalf("%s: unknown op", where)
		}
	}
}

// stabilize is the script prefix forming a Stable group of a and b (a leads).
var stabilize = []op{
	{do: "id", m: "a"}, {do: "id", m: "b"},
	{do: "join", m: "a"}, {do: "join", m: "b"},
	{do: "await", m: "a"}, {do: "await", m: "b"},
	{do: "state", state: StateCompletingRebalance},
	{do: "sync", m: "b"}, {do: "sync", m: "a"},
	{do: "awaitSync", m: "a"}, {do: "awaitSync", m: "b"},
	{do: "state", state: StateStable},
}

func script(parts ...[]op) []op {
	var out []op
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

// TestStateMachineTable drives the group through scripted transitions in
// virtual time; each case is one path of the state diagram in DESIGN.md.
func TestStateMachineTable(t *testing.T) {
	t.Parallel()
	rip, unknown, illegal, fenced := kerr.RebalanceInProgress.Code, kerr.UnknownMemberID.Code, kerr.IllegalGeneration.Code, kerr.FencedInstanceID.Code
	cases := []struct {
		name string
		ops  []op
	}{
		{"two members stabilize", stabilize},
		{"heartbeats keep a stable group", script(stabilize, []op{
			{do: "sleep", d: 6 * time.Second}, {do: "hb", m: "a"}, {do: "hb", m: "b"},
			{do: "sleep", d: 6 * time.Second}, {do: "hb", m: "a"}, {do: "hb", m: "b"},
			{do: "state", state: StateStable},
		})},
		{"old generation is illegal", script(stabilize, []op{
			{do: "hb", m: "a", gen: -1, want: illegal}, {do: "commit", m: "b", gen: 1, want: illegal},
		})},
		{"session expiry rebalances, survivor rejoins", script(stabilize, []op{
			{do: "sleep", d: 6 * time.Second}, {do: "hb", m: "b"},
			{do: "sleep", d: 5 * time.Second}, {do: "hb", m: "b", want: rip},
			{do: "state", state: StatePreparingRebalance},
			{do: "commit", m: "b"}, // commits go on while preparing
			{do: "join", m: "b"}, {do: "await", m: "b"},
			{do: "hb", m: "a", want: unknown},
			{do: "sync", m: "b"}, {do: "awaitSync", m: "b"}, {do: "state", state: StateStable},
		})},
		{"rebalance timeout drops the laggard", script(stabilize, []op{
			{do: "join", m: "a"}, {do: "blocked", m: "a"},
			{do: "sleep", d: 8 * time.Second}, {do: "hb", m: "b", want: rip},
			{do: "sleep", d: 8 * time.Second}, {do: "hb", m: "b", want: rip},
			{do: "blocked", m: "a"},
			{do: "sleep", d: 5 * time.Second}, {do: "await", m: "a"},
			{do: "hb", m: "b", want: unknown},
		})},
		{"commit while completing is refused", script(stabilize[:6], []op{
			{do: "commit", m: "a", want: rip}, {do: "hb", m: "a"},
		})},
		{"leaving members empty the group", script(stabilize, []op{
			{do: "leave", m: "b"}, {do: "state", state: StatePreparingRebalance},
			{do: "hb", m: "a", want: rip},
			{do: "leave", m: "a"}, {do: "state", state: StateEmpty},
			{do: "leave", m: "a", want: unknown}, {do: "hb", m: "a", want: unknown},
		})},
		{"leader that never syncs is removed at the sync timeout", script(stabilize[:6], []op{
			{do: "sync", m: "b"},
			{do: "sleep", d: 8 * time.Second}, {do: "hb", m: "a"}, // alive, just not syncing
			{do: "sleep", d: 8 * time.Second}, {do: "hb", m: "a"},
			{do: "syncBlocked", m: "b"},
			{do: "sleep", d: 5 * time.Second},
			{do: "awaitSync", m: "b", want: rip},
			{do: "state", state: StatePreparingRebalance},
			{do: "hb", m: "a", want: unknown},
			{do: "join", m: "b"}, {do: "await", m: "b"},
			{do: "sync", m: "b"}, {do: "awaitSync", m: "b"},
		})},
		{"a member that stops heartbeating mid-sync is removed", script(stabilize[:6], []op{
			{do: "sync", m: "b"}, {do: "sleep", d: 11 * time.Second},
			{do: "awaitSync", m: "b", want: rip},
			{do: "state", state: StatePreparingRebalance},
		})},
		{"static member restarts without a rebalance", []op{
			{do: "join", m: "s", inst: "i"}, {do: "await", m: "s"},
			{do: "sync", m: "s"}, {do: "awaitSync", m: "s"},
			{do: "join", m: "s2", inst: "i"}, {do: "await", m: "s2"},
			{do: "state", state: StateStable},
			{do: "hb", m: "s", inst: "i", want: fenced},
			{do: "hb", m: "s2", inst: "i"},
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			run(t, func(t *testing.T) {
				runOps(t, start(t, nil), tc.ops)
			})
		})
	}
}
