package redis

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"

	"github.com/sluicehq/sluice/connectors"
)

// row is the model state of one row of a generated stream.
type row struct {
	body  string
	v     int
	x     string // "" = NULL
	alive bool
}

// stream builds a changelog over n keys of table t: first an insert of
// every id when all is set, then random inserts, updates, deletes +
// tombstones and unchanged-TOAST updates, seeded. It returns the final
// state of every id.
func stream(seed uint64, topic, table string, n, events int, all bool) ([]connectors.Record, map[int]*row) {
	rng := rand.New(rand.NewPCG(seed, 1))
	rows := map[int]*row{}
	var out []connectors.Record
	upsert := func(id int) {
		r := rows[id]
		op := "u"
		if r == nil || !r.alive {
			r, op = &row{alive: true}, "c"
			rows[id] = r
		}
		r.body, r.v, r.x = fmt.Sprintf("b%d", rng.IntN(1000)), rng.IntN(1000), fmt.Sprint(rng.IntN(3))
		out = append(out, rec(topic, fmt.Sprintf(`{"id":%d}`, id), env(op, table, "",
			fmt.Sprintf(`{"id":%d,"body":%q,"v":%d,"x":%q}`, id, r.body, r.v, r.x))))
	}
	if all {
		for id := range n {
			upsert(id)
		}
	}
	for range events {
		id := rng.IntN(n)
		key := fmt.Sprintf(`{"id":%d}`, id)
		r := rows[id]
		switch p := rng.IntN(10); {
		case r != nil && r.alive && p < 2:
			out = append(out, rec(topic, key, env("d", table, key, "")), rec(topic, key, nil))
			r.alive = false
		case r != nil && r.alive && p < 3:
			r.v, r.x = rng.IntN(1000), ""
			out = append(out, rec(topic, key, env("u", table, "",
				fmt.Sprintf(`{"id":%d,"body":"__debezium_unavailable_value","v":%d,"x":null}`, id, r.v))))
		default:
			upsert(id)
		}
	}
	return out, rows
}

// model renders the expected dump of rows under the default template.
func model(prefix, mode string, rows map[int]*row) map[string]string {
	want := map[string]string{}
	for id, r := range rows {
		if !r.alive {
			continue
		}
		k := fmt.Sprintf("%s%d", prefix, id)
		switch mode {
		case ModeString:
			x := "null"
			if r.x != "" {
				x = fmt.Sprintf("%q", r.x)
			}
			want[k] = fmt.Sprintf(`string {"id":%d,"body":%q,"v":%d,"x":%s} ttl=false`, id, r.body, r.v, x)
		case ModeHash:
			x := ""
			if r.x != "" {
				x = fmt.Sprintf(`,"x":%q`, r.x)
			}
			want[k] = fmt.Sprintf(`hash {"body":%q,"id":"%d","v":"%d"%s} ttl=false`, r.body, id, r.v, x)
		}
	}
	return want
}

func writeAll(t testing.TB, s *Sink, recs []connectors.Record, batch int) {
	t.Helper()
	for i := 0; i < len(recs); i += batch {
		write(t, s, recs[i:min(i+batch, len(recs))]...)
	}
}

// TestReplayIdempotent: applying the log again, whole or from any point,
// or retrying a batch, leaves Redis as one pass did.
func TestReplayIdempotent(t *testing.T) {
	t.Parallel()
	addr, rc := sharedRedis(t)
	for _, mode := range []string{ModeString, ModeHash} {
		t.Run(mode, func(t *testing.T) {
			t.Parallel()
			p := uniq(t)
			s := openSink(t, Config{Pipeline: p, Name: "s", Addr: addr, Mode: mode})
			recs, rows := stream(7, p+".public.t", "t", 50, 2000, false)
			writeAll(t, s, recs, 64)
			want := model(p+":t:", mode, rows)
			diffMaps(t, dump(t, rc, p+":"), want)
			writeAll(t, s, recs, 64)
			diffMaps(t, dump(t, rc, p+":"), want)
			for _, from := range []int{1, 500, 1333, len(recs) - 1} {
				writeAll(t, s, recs[from:], 100)
				diffMaps(t, dump(t, rc, p+":"), want)
			}
		})
	}
}

// TestRebuildSweepsStaleKeys: keys whose deletes were compacted away are
// swept; keys the replay or live writes wrote stay; other prefixes stay.
func TestRebuildSweepsStaleKeys(t *testing.T) {
	t.Parallel()
	addr, rc := sharedRedis(t)
	ctx := context.Background()
	for _, custom := range []bool{false, true} {
		t.Run(fmt.Sprint("custom=", custom), func(t *testing.T) {
			t.Parallel()
			p := uniq(t)
			cfg := Config{Pipeline: p, Name: "s", Addr: addr}
			prefix := p + ":t:"
			if custom {
				cfg.Key = p + ":c[*]:{id}" // glob characters in the prefix are literal
				prefix = p + ":c[*]:"
			}
			s := openSink(t, cfg)
			topic := p + ".public.t"
			var all []connectors.Record
			for i := range 100 {
				all = append(all, rec(topic, fmt.Sprintf(`{"id":%d}`, i), env("c", "t", "", fmt.Sprintf(`{"id":%d}`, i))))
			}
			writeAll(t, s, all, 10)
			// Outsiders: another table, a lookalike key beyond the prefix.
			rc.Set(ctx, p+":u:1", "other", 0)
			rc.Set(ctx, p+":c:1", "other", 0)

			if err := s.BeginRebuild(ctx); err != nil {
				t.Fatal(err)
			}
			// The replay sees only the even ids (odd ones were deleted and
			// compacted); a live write of id 1001 runs concurrently.
			var wg sync.WaitGroup
			wg.Go(func() {
				b := connectors.Batch{Records: []connectors.Record{rec(topic, `{"id":1001}`, env("c", "t", "", `{"id":1001}`))}}
				if err := s.Write(ctx, b); err != nil {
					t.Errorf("live Write: %v", err)
				}
			})
			for i := 0; i < 100; i += 2 {
				write(t, s, all[i])
			}
			wg.Wait()
			if pr := s.RebuildProgress(); !pr.Active || pr.KeysWritten != 51 {
				t.Errorf("progress during rebuild = %+v, want active, 51 written", pr)
			}
			if err := s.FinishRebuild(ctx); err != nil {
				t.Fatal(err)
			}
			if pr := s.RebuildProgress(); pr.Active || pr.KeysSwept != 50 {
				t.Errorf("progress after rebuild = %+v, want 50 swept", pr)
			}
			got := dump(t, rc, prefix)
			if len(got) != 51 {
				t.Errorf("%d keys after rebuild, want 51", len(got))
			}
			for i := range 100 {
				_, ok := got[fmt.Sprintf("%s%d", prefix, i)]
				if ok != (i%2 == 0) {
					t.Errorf("key %s%d present=%v", prefix, i, ok)
				}
			}
			if _, ok := got[prefix+"1001"]; !ok {
				t.Error("live write during the rebuild was swept")
			}
			for _, k := range []string{p + ":u:1", p + ":c:1"} {
				if rc.Get(ctx, k).Val() != "other" {
					t.Errorf("key %s outside the prefix was touched", k)
				}
			}
			if err := s.FinishRebuild(ctx); err != ErrNotRebuilding {
				t.Errorf("second FinishRebuild = %v, want ErrNotRebuilding", err)
			}
		})
	}
}

// TestModel100k: 100,000 keys and 50,000 more changes, in batches of 1000,
// end equal to the model, in both modes. Under -race (ten times slower) it
// runs 25,000 keys and 12,500 changes, to keep the package under a minute.
func TestModel100k(t *testing.T) {
	t.Parallel()
	addr, rc := sharedRedis(t)
	for _, mode := range []string{ModeString, ModeHash} {
		t.Run(mode, func(t *testing.T) {
			t.Parallel()
			p := uniq(t)
			s := openSink(t, Config{Pipeline: p, Name: "s", Addr: addr, Mode: mode})
			n := 100_000
			if raceOn {
				n = 25_000
			}
			recs, rows := stream(42, p+".public.t", "t", n, n/2, true)
			writeAll(t, s, recs, 1000)
			diffMaps(t, dump(t, rc, p+":"), model(p+":t:", mode, rows))
			t.Cleanup(func() { // keep the shared Redis small
				_, _ = s.sweep(context.Background(), p+":", nil, true)
			})
		})
	}
}

// TestRebuildSweepsTopicTables: with the default template, a table named
// only by the sink's topics (every row deleted and compacted away, so the
// replay never mentions it) is swept too; another sink's table is not.
func TestRebuildSweepsTopicTables(t *testing.T) {
	t.Parallel()
	addr, rc := sharedRedis(t)
	ctx := context.Background()
	p := uniq(t)
	rc.Set(ctx, p+":gone:1", `{"id":1}`, 0)
	rc.Set(ctx, p+":other:1", `{"id":1}`, 0)
	s := openSink(t, Config{Pipeline: p, Name: "s", Addr: addr, Topics: []string{p + ".public.gone", p + ".public.live"}})
	if err := s.BeginRebuild(ctx); err != nil {
		t.Fatal(err)
	}
	write(t, s, rec(p+".public.live", `{"id":1}`, env("r", "live", "", `{"id":1}`)))
	if err := s.FinishRebuild(ctx); err != nil {
		t.Fatal(err)
	}
	diffMaps(t, dump(t, rc, p+":"), map[string]string{
		p + ":live:1":  `string {"id":1} ttl=false`,
		p + ":other:1": `string {"id":1} ttl=false`,
	})
}
