package redis

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sluicehq/sluice/connectors"
)

func TestNewConfigErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		cfg  Config
		want []string
	}{
		{"no addr", Config{Pipeline: "p"}, []string{"addr: required"}},
		{"both addrs", Config{Pipeline: "p", Addr: "a:1", Addrs: []string{"b:1"}}, []string{"addrs: set either"}},
		{"bad mode", Config{Pipeline: "p", Addr: "a:1", Mode: "list"}, []string{`mode: "list"`}},
		{"bad key", Config{Pipeline: "p", Addr: "a:1", Key: "c:{id"}, []string{`key:`, `"{id"`}},
		{"no pipeline", Config{Addr: "a:1"}, []string{"key: required"}},
		{"cluster db", Config{Pipeline: "p", Addrs: []string{"a:1"}, DB: 2}, []string{"db: Redis Cluster"}},
		{"negative ttl", Config{Pipeline: "p", Addr: "a:1", TTL: -time.Second}, []string{"ttl: must be"}},
		{"all at once", Config{Mode: "x", TTL: -1}, []string{"mode:", "addr:", "ttl:", "key:"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := New(tc.cfg)
			if !errors.Is(err, ErrConfig) {
				t.Fatalf("New = %v, want ErrConfig", err)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
		})
	}
	if s := (Config{Password: "hunter2"}).String(); strings.Contains(s, "hunter2") {
		t.Errorf("String() leaks the password: %s", s)
	}
}

func TestStringMode(t *testing.T) {
	t.Parallel()
	addr, rc := sharedRedis(t)
	p := uniq(t)
	s := openSink(t, Config{Pipeline: p, Name: "cache", Addr: addr})
	ctx := context.Background()
	topic := p + ".public.customers"
	write(t, s,
		rec(topic, `{"id":1}`, env("r", "customers", "", `{"id":1,"name":"ann"}`)),
		rec(topic, `{"id":2}`, env("c", "customers", "", `{"id":2,"name":"bob"}`)),
		rec(topic, `{"id":3}`, env("c", "customers", "", `{"id":3,"name":"cy"}`)),
		rec(topic, `{"id":2}`, env("u", "customers", `{"id":2,"name":"bob"}`, `{"id":2,"name":"bobby","tags":["a"],"n":1.50}`)),
		rec(topic, `{"id":3}`, env("d", "customers", `{"id":3}`, "")),
		rec(topic, `{"id":3}`, nil),
	)
	want := map[string]string{
		p + ":customers:1": `string {"id":1,"name":"ann"} ttl=false`,
		p + ":customers:2": `string {"id":2,"name":"bobby","tags":["a"],"n":1.50} ttl=false`,
	}
	diffMaps(t, dump(t, rc, p+":"), want)

	// A tombstone alone deletes: the table comes from the topic.
	write(t, s, rec(topic, `{"id":1}`, nil))
	delete(want, p+":customers:1")
	diffMaps(t, dump(t, rc, p+":"), want)

	// Composite keys, escaped, in key order.
	write(t, s, rec(p+".public.lines", `{"order":"a:b","n":2}`, env("c", "lines", "", `{"order":"a:b","n":2,"q":1}`)))
	if got := rc.Get(ctx, p+`:lines:a\:b:2`).Val(); got != `{"order":"a:b","n":2,"q":1}` {
		t.Errorf("composite key value = %q", got)
	}
}

func TestCustomTemplateAndTTL(t *testing.T) {
	t.Parallel()
	addr, rc := sharedRedis(t)
	p := uniq(t)
	ctx := context.Background()
	for _, mode := range []string{ModeString, ModeHash} {
		s := openSink(t, Config{Pipeline: "shop", Name: "c", Addr: addr, Key: p + mode + ":cust:{id}", Mode: mode, TTL: time.Hour})
		write(t, s, rec("shop.public.customers", `{"id":"x\\y"}`, env("c", "customers", "", `{"id":"x\\y","v":1}`)))
		k := p + mode + `:cust:x\\y`
		ttl := rc.PTTL(ctx, k).Val()
		if ttl <= 0 || ttl > time.Hour {
			t.Errorf("%s: PTTL(%s) = %v, want (0, 1h]", mode, k, ttl)
		}
		// A sink without TTL removes it on the next write (SET / PERSIST).
		s2 := openSink(t, Config{Pipeline: "shop", Name: "c", Addr: addr, Key: p + mode + ":cust:{id}", Mode: mode})
		write(t, s2, rec("shop.public.customers", `{"id":"x\\y"}`, env("u", "customers", "", `{"id":"x\\y","v":2}`)))
		if ttl := rc.PTTL(ctx, k).Val(); ttl != -1 {
			t.Errorf("%s: PTTL after a write without TTL = %v, want -1", mode, ttl)
		}
	}
}

func TestHashMode(t *testing.T) {
	t.Parallel()
	addr, rc := sharedRedis(t)
	p := uniq(t)
	s := openSink(t, Config{Pipeline: p, Name: "h", Addr: addr, Mode: ModeHash})
	topic := p + ".public.t"
	write(t, s,
		rec(topic, `{"id":1}`, env("c", "t", "", `{"id":1,"name":"ann","age":30,"ok":true,"doc":{"a":[1,2]},"big":18446744073709551615,"gone":"x","nul":null}`)),
		rec(topic, `{"id":2}`, env("c", "t", "", `{"id":2,"name":"bob"}`)),
	)
	want := map[string]string{
		p + ":t:1": `hash {"age":"30","big":"18446744073709551615","doc":"{\"a\":[1,2]}","gone":"x","id":"1","name":"ann","ok":"true"} ttl=false`,
		p + ":t:2": `hash {"id":"2","name":"bob"} ttl=false`,
	}
	diffMaps(t, dump(t, rc, p+":"), want)

	// name became NULL, gone was dropped, doc is unchanged TOAST: kept.
	write(t, s, rec(topic, `{"id":1}`, env("u", "t", "", `{"id":1,"name":null,"age":31,"ok":false,"doc":"__debezium_unavailable_value","big":1}`)))
	want[p+":t:1"] = `hash {"age":"31","big":"1","doc":"{\"a\":[1,2]}","id":"1","ok":"false"} ttl=false`
	diffMaps(t, dump(t, rc, p+":"), want)

	// A marker for a field never stored is not written.
	write(t, s, rec(topic, `{"id":3}`, env("u", "t", "", `{"id":3,"doc":"__debezium_unavailable_value"}`)))
	want[p+":t:3"] = `hash {"id":"3"} ttl=false`
	write(t, s, rec(topic, `{"id":2}`, env("d", "t", `{"id":2}`, "")))
	delete(want, p+":t:2")
	diffMaps(t, dump(t, rc, p+":"), want)

	// Redis forgot the script (restart, SCRIPT FLUSH): Write reloads it.
	if err := rc.ScriptFlush(context.Background()).Err(); err != nil {
		t.Fatal(err)
	}
	write(t, s, rec(topic, `{"id":2}`, env("c", "t", "", `{"id":2,"name":"bo"}`)))
	want[p+":t:2"] = `hash {"id":"2","name":"bo"} ttl=false`
	diffMaps(t, dump(t, rc, p+":"), want)
}

func TestToastStringMode(t *testing.T) {
	t.Parallel()
	addr, rc := sharedRedis(t)
	p := uniq(t)
	s := openSink(t, Config{Pipeline: p, Name: "s", Addr: addr})
	topic := p + ".public.t"
	const m = `"__debezium_unavailable_value"`
	write(t, s, rec(topic, `{"id":1}`, env("c", "t", "", `{"id":1,"body":"long text","n":1}`)))
	// Merged from Redis.
	write(t, s, rec(topic, `{"id":1}`, env("u", "t", "", `{"id":1,"body":`+m+`,"n":2}`)))
	// Merged from an earlier record of the same batch, then from Redis again.
	write(t, s,
		rec(topic, `{"id":2}`, env("c", "t", "", `{"id":2,"body":"b2","n":1}`)),
		rec(topic, `{"id":2}`, env("u", "t", "", `{"id":2,"body":`+m+`,"n":2}`)),
		rec(topic, `{"id":3}`, env("u", "t", `{"id":3,"body":"from before","n":0}`, `{"id":3,"body":`+m+`,"n":1}`)),
		rec(topic, `{"id":4}`, env("u", "t", "", `{"id":4,"body":`+m+`,"n":1}`)),
		rec(topic, `{"id":1}`, env("u", "t", "", `{"id":1,"body":`+m+`,"n":3}`)),
	)
	want := map[string]string{
		p + ":t:1": `string {"id":1,"body":"long text","n":3} ttl=false`,
		p + ":t:2": `string {"id":2,"body":"b2","n":2} ttl=false`,
		p + ":t:3": `string {"id":3,"body":"from before","n":1} ttl=false`,
		p + ":t:4": `string {"id":4,"n":1} ttl=false`,
	}
	diffMaps(t, dump(t, rc, p+":"), want)
}

func TestInvalidRecordsRejected(t *testing.T) {
	t.Parallel()
	addr, rc := sharedRedis(t)
	p := uniq(t)
	s := openSink(t, Config{Pipeline: "shop", Name: "s", Addr: addr, Key: p + ":{id}"})
	// String mode SETs over any type; a hash-mode sink meeting a string
	// key gets WRONGTYPE, for that record alone.
	h := openSink(t, Config{Pipeline: "shop", Name: "h", Addr: addr, Key: p + ":{id}", Mode: ModeHash})
	topic := "shop.public.t"
	recs := []connectors.Record{
		rec(topic, `{"id":1}`, env("c", "t", "", `{"id":1}`)),
		rec(topic, `{"id":2}`, []byte(`not json`)),
		rec(topic, `{"id":3}`, []byte(`{"op":"x"}`)),
		rec(topic, `{"id":4}`, env("c", "t", "", "")),
		rec(topic, `{"other":5}`, env("c", "t", "", `{"other":5}`)),
		rec(topic, ``, env("c", "t", "", `{"id":6}`)),
		rec(topic, `{"id":7}`, env("c", "t", "", `{"id":7,"x":`)),
		rec(topic, `{"id":8}`, env("c", "t", "", `{"id":8}`)),
	}
	err := s.Write(context.Background(), connectors.Batch{Records: recs})
	var be *connectors.BatchError
	if !errors.As(err, &be) {
		t.Fatalf("Write = %v, want *BatchError", err)
	}
	var idx []int
	for _, f := range be.Failed {
		idx = append(idx, f.Index)
	}
	if want := []int{1, 2, 3, 4, 5, 6}; !equalInts(idx, want) {
		t.Errorf("failed indexes %v, want %v (%v)", idx, want, err)
	}
	if !errors.Is(be.Failed[3].Err, ErrKeyColumn) || !strings.Contains(be.Failed[3].Err.Error(), "{id}") {
		t.Errorf("record 4: %v, want ErrKeyColumn naming {id}", be.Failed[3].Err)
	}
	diffMaps(t, dump(t, rc, p+":"), map[string]string{
		p + ":1": `string {"id":1} ttl=false`,
		p + ":8": `string {"id":8} ttl=false`,
	})
	err = h.Write(context.Background(), connectors.Batch{Records: []connectors.Record{
		rec(topic, `{"id":9}`, env("c", "t", "", `{"id":9}`)),
		rec(topic, `{"id":1}`, env("c", "t", "", `{"id":1}`)), // a string key: WRONGTYPE
	}})
	if !errors.As(err, &be) || len(be.Failed) != 1 || be.Failed[0].Index != 1 || !errors.Is(be.Failed[0].Err, ErrRejected) {
		t.Fatalf("hash Write over a string = %v, want record 1 ErrRejected", err)
	}
	if got := rc.HGet(context.Background(), p+":9", "id").Val(); got != "9" {
		t.Errorf("record 0 of the batch not applied: %q", got)
	}
}

func equalInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestTruncate(t *testing.T) {
	t.Parallel()
	addr, rc := sharedRedis(t)
	p := uniq(t)
	s := openSink(t, Config{Pipeline: p, Name: "s", Addr: addr})
	write(t, s,
		rec(p+".public.a", `{"id":1}`, env("c", "a", "", `{"id":1}`)),
		rec(p+".public.a", `{"id":2}`, env("c", "a", "", `{"id":2}`)),
		rec(p+".public.ab", `{"id":1}`, env("c", "ab", "", `{"id":1}`)),
	)
	// Truncate a, then a row of a arrives in the same batch: order holds.
	write(t, s,
		rec(p+".public.a", ``, env("t", "a", "", "")),
		rec(p+".public.a", `{"id":3}`, env("c", "a", "", `{"id":3}`)),
	)
	diffMaps(t, dump(t, rc, p+":"), map[string]string{
		p + ":a:3":  `string {"id":3} ttl=false`,
		p + ":ab:1": `string {"id":1} ttl=false`,
	})
	// Without a static prefix a truncate is rejected, not swept over "*".
	n := openSink(t, Config{Pipeline: p, Name: "n", Addr: addr, Key: "{id}:" + p})
	err := n.Write(context.Background(), connectors.Batch{Records: []connectors.Record{rec(p+".public.a", ``, env("t", "a", "", ""))}})
	var be *connectors.BatchError
	if !errors.As(err, &be) || !errors.Is(be.Failed[0].Err, ErrNoPrefix) {
		t.Fatalf("truncate without prefix = %v, want ErrNoPrefix", err)
	}
	if err := n.BeginRebuild(context.Background()); !errors.Is(err, ErrNoPrefix) {
		t.Fatalf("BeginRebuild without prefix = %v, want ErrNoPrefix", err)
	}
}

func TestMetricsAndCheck(t *testing.T) {
	t.Parallel()
	addr, _ := sharedRedis(t)
	p := uniq(t)
	reg := prometheus.NewRegistry()
	cfg := Config{Pipeline: p, Name: "m", Addr: addr}
	s1, err := New(cfg, WithRegisterer(reg), WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		t.Fatal(err)
	}
	// Built again (a supervisor restart): the collectors are shared.
	s, err := New(cfg, WithRegisterer(reg))
	if err != nil {
		t.Fatalf("second New on one registry: %v", err)
	}
	_ = s1
	ctx := context.Background()
	if err := s.Check(ctx); !errors.Is(err, ErrNotOpen) {
		t.Errorf("Check before Open = %v", err)
	}
	if err := s.Open(ctx); err != nil {
		t.Fatal(err)
	}
	if err := s.Check(ctx); err != nil {
		t.Errorf("Check: %v", err)
	}
	write(t, s, rec(p+".public.t", `{"id":1}`, env("c", "t", "", `{"id":1}`)))
	_ = s.Write(ctx, connectors.Batch{Records: []connectors.Record{rec(p+".public.t", `{"id":2}`, []byte("x"))}})
	got := map[string]float64{}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			if c := m.GetCounter(); c != nil {
				got[mf.GetName()] = c.GetValue()
			}
		}
	}
	if got[metricWritten] != 1 || got[metricRejected] != 1 {
		t.Errorf("metrics = %v, want 1 written, 1 rejected", got)
	}
	if err := s.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if err := s.Write(ctx, connectors.Batch{}); !errors.Is(err, ErrNotOpen) {
		t.Errorf("Write after Close = %v", err)
	}
}
