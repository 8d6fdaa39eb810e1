package group

import (
	"context"
	"testing"
	"testing/synctest"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// harness runs a Coordinator inside a synctest bubble: time is virtual, so
// session and rebalance timeouts elapse instantly and deterministically.
type harness struct {
	t      *testing.T
	c      *Coordinator
	store  *MemStore
	ctx    context.Context
	cancel context.CancelFunc
	done   chan error
}

func testConfig() Config {
	cfg := DefaultConfig()
	cfg.InitialRebalanceDelay = 0
	return cfg
}

// start must run inside synctest.Test.
func start(t *testing.T, store *MemStore, opts ...Option) *harness {
	t.Helper()
	if store == nil {
		store = &MemStore{}
	}
	h := startWithStore(t, store, opts...)
	h.store = store
	return h
}

// startWithStore is start for any OffsetStore; opts come after testConfig.
func startWithStore(t *testing.T, store OffsetStore, opts ...Option) *harness {
	t.Helper()
	opts = append([]Option{WithConfig(testConfig())}, opts...)
	h := &harness{t: t, c: New(store, opts...), done: make(chan error, 1)}
	h.ctx, h.cancel = context.WithCancel(t.Context())
	go func() { h.done <- h.c.Run(h.ctx) }()
	<-h.c.Loaded()
	t.Cleanup(h.stop)
	return h
}

func (h *harness) stop() {
	if h.cancel == nil {
		return
	}
	h.cancel()
	if err := <-h.done; err != nil {
		h.t.Errorf("Run: %v", err)
	}
	h.cancel = nil
}

// do sends req and waits for the response.
func (h *harness) do(req kmsg.Request) kmsg.Response {
	h.t.Helper()
	resp, err := h.c.Handle(WithClient(h.ctx, "client", "/127.0.0.1"), req)
	if err != nil {
		h.t.Fatalf("Handle(%T): %v", req, err)
	}
	if resp.GetVersion() != req.GetVersion() {
		h.t.Fatalf("response version %d, request version %d", resp.GetVersion(), req.GetVersion())
	}
	return resp
}

// async sends req from its own goroutine; the channel yields the response
// (or nil if ctx ended first).
func (h *harness) async(req kmsg.Request) <-chan kmsg.Response {
	ch := make(chan kmsg.Response, 1)
	go func() {
		resp, _ := h.c.Handle(WithClient(h.ctx, "client", "/127.0.0.1"), req)
		ch <- resp
	}()
	return ch
}

func recv[T kmsg.Response](t *testing.T, ch <-chan kmsg.Response) T {
	t.Helper()
	synctest.Wait()
	select {
	case r := <-ch:
		return r.(T)
	default:
		t.Fatalf("request still blocked")
		var zero T
		return zero
	}
}

func blocked(t *testing.T, ch <-chan kmsg.Response) {
	t.Helper()
	synctest.Wait()
	select {
	case r := <-ch:
		t.Fatalf("request answered (%+v), want it blocked", r)
	default:
	}
}

func consumerMeta(topics ...string) []byte {
	m := kmsg.NewConsumerMemberMetadata()
	m.Version = 0
	m.Topics = topics
	return m.AppendTo(nil)
}

func consumerAssignment(topic string, partitions ...int32) []byte {
	a := kmsg.NewConsumerMemberAssignment()
	a.Topics = []kmsg.ConsumerMemberAssignmentTopic{{Topic: topic, Partitions: partitions}}
	return a.AppendTo(nil)
}

type joinOpt func(*kmsg.JoinGroupRequest)

func withInstance(id string) joinOpt {
	return func(r *kmsg.JoinGroupRequest) { r.InstanceID = &id }
}

func withProtocols(names ...string) joinOpt {
	return func(r *kmsg.JoinGroupRequest) {
		r.Protocols = nil
		for _, n := range names {
			r.Protocols = append(r.Protocols, kmsg.JoinGroupRequestProtocol{Name: n, Metadata: consumerMeta("t")})
		}
	}
}

func withTimeouts(session, rebalance time.Duration) joinOpt {
	return func(r *kmsg.JoinGroupRequest) {
		r.SessionTimeoutMillis = int32(session / time.Millisecond)
		r.RebalanceTimeoutMillis = int32(rebalance / time.Millisecond)
	}
}

func joinReq(version int16, group, memberID string, opts ...joinOpt) *kmsg.JoinGroupRequest {
	r := kmsg.NewPtrJoinGroupRequest()
	r.Version = version
	r.Group = group
	r.MemberID = memberID
	r.SessionTimeoutMillis = 10_000
	r.RebalanceTimeoutMillis = 20_000
	r.ProtocolType = "consumer"
	r.Protocols = []kmsg.JoinGroupRequestProtocol{{Name: "range", Metadata: consumerMeta("t")}}
	for _, o := range opts {
		o(r)
	}
	return r
}

func syncReq(version int16, group, memberID string, gen int32, assignments map[string][]byte) *kmsg.SyncGroupRequest {
	r := kmsg.NewPtrSyncGroupRequest()
	r.Version = version
	r.Group, r.MemberID, r.Generation = group, memberID, gen
	for id, a := range assignments {
		r.GroupAssignment = append(r.GroupAssignment, kmsg.SyncGroupRequestGroupAssignment{MemberID: id, MemberAssignment: a})
	}
	return r
}

func heartbeatReq(version int16, group, memberID string, gen int32) *kmsg.HeartbeatRequest {
	r := kmsg.NewPtrHeartbeatRequest()
	r.Version = version
	r.Group, r.MemberID, r.Generation = group, memberID, gen
	return r
}

// newID runs the first step of the v4+ join and returns the member id handed
// out with MEMBER_ID_REQUIRED. While it is pending, no join phase completes.
func (h *harness) newID(version int16, group string, opts ...joinOpt) string {
	h.t.Helper()
	first := h.do(joinReq(version, group, "", opts...)).(*kmsg.JoinGroupResponse)
	if first.ErrorCode != kerr.MemberIDRequired.Code || first.MemberID == "" {
		h.t.Fatalf("first join: code %d member %q, want MEMBER_ID_REQUIRED with an id", first.ErrorCode, first.MemberID)
	}
	return first.MemberID
}

// joinAsync sends a JoinGroup and lets it land before returning, so
// members are added in call order (the first one leads).
func (h *harness) joinAsync(version int16, group, id string, opts ...joinOpt) <-chan kmsg.Response {
	ch := h.async(joinReq(version, group, id, opts...))
	synctest.Wait()
	return ch
}

// joinNew is newID then joinAsync.
func (h *harness) joinNew(version int16, group string, opts ...joinOpt) (string, <-chan kmsg.Response) {
	id := h.newID(version, group, opts...)
	return id, h.joinAsync(version, group, id, opts...)
}

// stableGroup forms a Stable group of n dynamic members (v5 protocol) and
// returns their ids (leader first) and the generation.
func (h *harness) stableGroup(group string, n int, opts ...joinOpt) ([]string, int32) {
	h.t.Helper()
	ids := make([]string, n)
	chans := make([]<-chan kmsg.Response, n)
	for i := range n {
		ids[i] = h.newID(5, group, opts...)
	}
	for i := range n {
		chans[i] = h.joinAsync(5, group, ids[i], opts...)
	}
	var leader string
	var gen int32
	for i := range n {
		r := recv[*kmsg.JoinGroupResponse](h.t, chans[i])
		if r.ErrorCode != 0 {
			h.t.Fatalf("join %d: code %d", i, r.ErrorCode)
		}
		leader, gen = r.LeaderID, r.Generation
	}
	assign := map[string][]byte{}
	for i, id := range ids {
		assign[id] = consumerAssignment("t", int32(i))
	}
	var syncs []<-chan kmsg.Response
	order := []string{leader}
	for _, id := range ids {
		if id != leader {
			order = append(order, id)
		}
	}
	for _, id := range order[1:] {
		syncs = append(syncs, h.async(syncReq(3, group, id, gen, nil)))
	}
	syncs = append(syncs, h.async(syncReq(3, group, leader, gen, assign)))
	for _, ch := range syncs {
		if r := recv[*kmsg.SyncGroupResponse](h.t, ch); r.ErrorCode != 0 {
			h.t.Fatalf("sync: code %d", r.ErrorCode)
		}
	}
	return order, gen
}

func (h *harness) state(group string) State {
	h.t.Helper()
	d, err := h.c.Describe(group)
	if err != nil {
		return StateDead
	}
	return d.State
}

func run(t *testing.T, f func(t *testing.T)) {
	t.Helper()
	synctest.Test(t, f)
}

var testNow = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func contextWithCancel(h *harness) (context.Context, context.CancelFunc) {
	return context.WithCancel(WithClient(h.ctx, "client", "/127.0.0.1"))
}
