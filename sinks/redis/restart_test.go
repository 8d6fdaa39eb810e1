package redis

import (
	"context"
	"testing"
	"time"

	"github.com/sluicehq/sluice/connectors"
)

// TestRedisRestartLosesNothing kills the sink's Redis (its own
// redis-server, AOF fsync always so acknowledged writes are durable)
// mid-stream: Write fails while it is down, the runtime-like loop retries
// the same batch, and once Redis is back the end state equals the model.
func TestRedisRestartLosesNothing(t *testing.T) {
	t.Parallel()
	srv := startServer(t, "--appendonly", "yes", "--appendfsync", "always")
	for _, mode := range []string{ModeString, ModeHash} {
		p := uniq(t)
		s := openSink(t, Config{Pipeline: p, Name: "s", Addr: srv.addr(), Mode: mode})
		recs, rows := stream(3, p+".public.t", "t", 300, 3000, false)
		ctx := context.Background()
		const batch = 100
		failures := 0
		for i, n := 0, 0; i < len(recs); i, n = i+batch, n+1 {
			b := connectors.Batch{Records: recs[i:min(i+batch, len(recs))]}
			if n == 10 {
				srv.kill()
				if err := s.Write(ctx, b); err == nil {
					t.Fatalf("%s: Write succeeded with Redis down", mode)
				}
				failures++
				srv.start() // same dir: the AOF brings back every acknowledged write
			}
			for attempt := 0; ; attempt++ { // the runtime's retry loop
				err := s.Write(ctx, b)
				if err == nil {
					break
				}
				if attempt == 100 {
					t.Fatalf("%s: Write still failing after Redis restart: %v", mode, err)
				}
				failures++
				time.Sleep(50 * time.Millisecond)
			}
		}
		if failures == 0 {
			t.Fatalf("%s: no Write failed", mode)
		}
		rc := newInspector(t, srv.addr())
		diffMaps(t, dump(t, rc, p+":"), model(p+":t:", mode, rows))
	}
}
