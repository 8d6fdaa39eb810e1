package group

import (
	"context"
	"fmt"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
)

func benchCoordinator(b *testing.B) (*Coordinator, context.Context) {
	b.Helper()
	c := New(&MemStore{}, WithConfig(testConfig()))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	<-c.Loaded()
	b.Cleanup(func() {
		cancel()
		<-done
	})
	return c, ctx
}

// BenchmarkOffsetCommit measures one simple commit of 10 partitions
// (encode, MemStore append, memory update).
func BenchmarkOffsetCommit(b *testing.B) {
	c, ctx := benchCoordinator(b)
	offsets := map[int32]int64{}
	for p := range int32(10) {
		offsets[p] = 1
	}
	req := commitReq(8, "g", "", -1, "t", offsets)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.Handle(ctx, req); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkHeartbeat measures a heartbeat of a Stable member, with 1000
// other groups present.
func BenchmarkHeartbeat(b *testing.B) {
	c, ctx := benchCoordinator(b)
	for i := range 1000 {
		r, _ := c.Handle(ctx, joinReq(3, fmt.Sprintf("other-%d", i), ""))
		_ = r
	}
	r, err := c.Handle(ctx, joinReq(3, "g", ""))
	if err != nil {
		b.Fatal(err)
	}
	j := r.(*kmsg.JoinGroupResponse)
	if _, err := c.Handle(ctx, syncReq(3, "g", j.MemberID, j.Generation, nil)); err != nil {
		b.Fatal(err)
	}
	hb := heartbeatReq(4, "g", j.MemberID, j.Generation)
	b.ReportAllocs()
	for b.Loop() {
		if resp, _ := c.Handle(ctx, hb); hbCode(resp) != 0 {
			b.Fatal(hbCode(resp))
		}
	}
}

// BenchmarkRebalance measures a full rebalance of a 50-member group: every
// member rejoins concurrently, then syncs (leader assigns); with 10000 idle
// groups beside it, Run's deadline scan shows in the figure.
func BenchmarkRebalance(b *testing.B) {
	for _, idle := range []int{0, 10000} {
		b.Run(fmt.Sprintf("idle=%d", idle), func(b *testing.B) { benchRebalance(b, idle) })
	}
}

func benchRebalance(b *testing.B, idle int) {
	const n = 50
	c, ctx := benchCoordinator(b)
	for i := range idle {
		if _, err := c.Handle(ctx, commitReq(8, fmt.Sprintf("idle-%d", i), "", -1, "t", map[int32]int64{0: 1})); err != nil {
			b.Fatal(err)
		}
	}
	ids := make([]string, n)
	for i := range ids {
		r, _ := c.Handle(ctx, joinReq(5, "g", ""))
		ids[i] = r.(*kmsg.JoinGroupResponse).MemberID
	}
	leader := ""
	round := func() {
		var wg sync.WaitGroup
		resps := make([]*kmsg.JoinGroupResponse, n)
		for i, id := range ids {
			if id == leader {
				// The leader goes first: its rejoin starts the rebalance, so
				// the followers' joins wait for it instead of returning the
				// running generation.
				wg.Go(func() {
					r, _ := c.Handle(ctx, joinReq(5, "g", id))
					resps[i] = r.(*kmsg.JoinGroupResponse)
				})
				for {
					if d, _ := c.Describe("g"); d.State == StatePreparingRebalance {
						break
					}
					runtime.Gosched()
				}
			}
		}
		for i, id := range ids {
			if id == leader {
				continue
			}
			wg.Go(func() {
				r, err := c.Handle(ctx, joinReq(5, "g", id))
				if err != nil {
					b.Error(err)
					return
				}
				resps[i] = r.(*kmsg.JoinGroupResponse)
			})
		}
		wg.Wait()
		for i, id := range ids {
			wg.Go(func() {
				r := resps[i]
				var assign map[string][]byte
				if r.LeaderID == id {
					leader = id
					assign = map[string][]byte{}
					for _, m := range r.Members {
						assign[m.MemberID] = []byte("a")
					}
				}
				if _, err := c.Handle(ctx, syncReq(3, "g", id, r.Generation, assign)); err != nil {
					b.Error(err)
				}
			})
		}
		wg.Wait()
	}
	round() // form the group (the first member to join leads)
	b.ReportAllocs()
	for b.Loop() {
		// The leader rejoining starts a rebalance; everyone follows.
		round()
	}
}

// BenchmarkTick measures one pass of Run's deadline scan over 10000 idle
// groups, each with a Stable member: "clean" when no request touched them
// since the last pass, "dirty" when every group must be re-evaluated.
func BenchmarkTick(b *testing.B) {
	c := New(&MemStore{}, WithConfig(testConfig()))
	ctx := context.Background()
	if err := c.load(ctx); err != nil {
		b.Fatal(err)
	}
	close(c.loadedCh)
	for i := range 10000 {
		r, _ := c.Handle(ctx, joinReq(3, fmt.Sprintf("g-%d", i), ""))
		j := r.(*kmsg.JoinGroupResponse)
		if _, err := c.Handle(ctx, syncReq(3, fmt.Sprintf("g-%d", i), j.MemberID, j.Generation, nil)); err != nil {
			b.Fatal(err)
		}
	}
	now := time.Now()
	c.tick(ctx, now)
	for _, mode := range []string{"clean", "dirty"} {
		b.Run(mode, func(b *testing.B) {
			gs := c.snapshot()
			for b.Loop() {
				if mode == "dirty" {
					for _, g := range gs {
						g.mu.Lock()
						g.dirty = true
						g.mu.Unlock()
					}
				}
				c.tick(ctx, now)
			}
		})
	}
}
