package redis

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"sync"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/sluicehq/sluice/connectors"
	"github.com/sluicehq/sluice/itest"
)

// uniq returns a name unique to this test run, for key prefixes and
// pipeline names on the shared test Redis.
func uniq(t testing.TB) string {
	t.Helper()
	b := make([]byte, 6)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return "t" + hex.EncodeToString(b)
}

// sharedRedis returns the test Redis (itest.Redis) and a client to inspect it.
func sharedRedis(t testing.TB) (string, *goredis.Client) {
	t.Helper()
	addr := itest.Need(t, itest.Redis)
	return addr, newInspector(t, addr)
}

// newInspector returns a client to look at a Redis, closed at cleanup.
func newInspector(t testing.TB, addr string) *goredis.Client {
	c := goredis.NewClient(&goredis.Options{Addr: addr, DisableIdentity: true})
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// openSink builds and opens a sink, closed at cleanup.
func openSink(t testing.TB, cfg Config) *Sink {
	t.Helper()
	s, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	if err := s.Open(context.Background()); err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { _ = s.Close(context.Background()) })
	return s
}

// env builds an envelope; before and after are JSON text or "" for null.
func env(op, table, before, after string) []byte {
	if before == "" {
		before = "null"
	}
	if after == "" {
		after = "null"
	}
	return fmt.Appendf(nil, `{"before":%s,"after":%s,"op":%q,"ts_ms":1,"source":{"connector":"postgresql","name":"shop","ts_ms":1,"snapshot":"false","db":"shop","schema":"public","table":%q}}`,
		before, after, op, table)
}

func rec(topic, key string, value []byte) connectors.Record {
	var k []byte
	if key != "" {
		k = []byte(key)
	}
	return connectors.Record{Topic: topic, Partition: 0, Key: k, Value: value}
}

func write(t testing.TB, s *Sink, recs ...connectors.Record) {
	t.Helper()
	if err := s.Write(context.Background(), connectors.Batch{Records: recs}); err != nil {
		t.Fatalf("Write: %v", err)
	}
}

// dump returns every key under prefix with its type, value and whether it
// has a TTL, in a comparable form.
func dump(t testing.TB, c goredis.UniversalClient, prefix string) map[string]string {
	t.Helper()
	ctx := context.Background()
	out := map[string]string{}
	var keys []string
	scan := func(ctx context.Context, n goredis.Cmdable) error {
		it := n.Scan(ctx, 0, globEscape(prefix)+"*", 1000).Iterator()
		for it.Next(ctx) {
			keys = append(keys, it.Val())
		}
		return it.Err()
	}
	var err error
	if cc, ok := c.(*goredis.ClusterClient); ok {
		var mu sync.Mutex
		err = cc.ForEachMaster(ctx, func(ctx context.Context, n *goredis.Client) error {
			var ks []string
			it := n.Scan(ctx, 0, globEscape(prefix)+"*", 1000).Iterator()
			for it.Next(ctx) {
				ks = append(ks, it.Val())
			}
			mu.Lock() // ForEachMaster runs fn on every master concurrently
			keys = append(keys, ks...)
			mu.Unlock()
			return it.Err()
		})
	} else {
		err = scan(ctx, c)
	}
	if err != nil {
		t.Fatalf("scanning %s*: %v", prefix, err)
	}
	for i := 0; i < len(keys); i += 1000 {
		chunk := keys[i:min(i+1000, len(keys))]
		pipe := c.Pipeline()
		types := make([]*goredis.StatusCmd, len(chunk))
		ttls := make([]*goredis.DurationCmd, len(chunk))
		strs := make([]*goredis.StringCmd, len(chunk))
		hashes := make([]*goredis.MapStringStringCmd, len(chunk))
		for j, k := range chunk {
			types[j] = pipe.Type(ctx, k)
			ttls[j] = pipe.PTTL(ctx, k)
			strs[j] = pipe.Get(ctx, k)
			hashes[j] = pipe.HGetAll(ctx, k)
		}
		_, _ = pipe.Exec(ctx) // one of GET and HGETALL fails with WRONGTYPE
		for j, k := range chunk {
			var v string
			switch typ := types[j].Val(); typ {
			case "string":
				v = strs[j].Val()
			case "hash":
				b, _ := json.Marshal(hashes[j].Val()) // sorted keys
				v = string(b)
			case "none":
				continue // expired meanwhile
			default:
				v = "?"
			}
			out[k] = types[j].Val() + " " + v + " ttl=" + strconv.FormatBool(ttls[j].Val() > 0)
		}
	}
	return out
}

func sortedKeys(m map[string]string) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

func diffMaps(t testing.TB, got, want map[string]string) {
	t.Helper()
	n := 0
	for _, k := range sortedKeys(want) {
		if got[k] != want[k] {
			if n++; n <= 10 {
				t.Errorf("key %q = %q, want %q", k, got[k], want[k])
			}
		}
	}
	for _, k := range sortedKeys(got) {
		if _, ok := want[k]; !ok {
			if n++; n <= 10 {
				t.Errorf("unexpected key %q = %q", k, got[k])
			}
		}
	}
	if n > 10 {
		t.Errorf("... %d differences in all", n)
	}
}

// server is a redis-server process a test owns (port, data dir).
type server struct {
	t    testing.TB
	port int
	dir  string
	args []string
	cmd  *exec.Cmd
	opts *goredis.Options // how start pings it; nil = plain TCP, no auth
}

// freePort returns a port free now (and port+10000 too, for cluster buses).
func freePort(t testing.TB) int {
	t.Helper()
	for range 100 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		p := l.Addr().(*net.TCPAddr).Port
		_ = l.Close()
		if p > 55000 {
			continue
		}
		if l2, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(p+10000)); err == nil {
			_ = l2.Close()
			return p
		}
	}
	t.Fatal("no free port")
	return 0
}

// startServer starts redis-server on a free port in a temp dir; extra
// arguments are appended. It is killed at cleanup.
func startServer(t testing.TB, extra ...string) *server {
	t.Helper()
	return startServerOpts(t, nil, extra...)
}

// startServerOpts is startServer pinging with opts (its Addr is filled in).
func startServerOpts(t testing.TB, opts *goredis.Options, extra ...string) *server {
	t.Helper()
	if _, err := exec.LookPath("redis-server"); err != nil {
		t.Fatalf("redis-server not found (apt-get install redis-server): %v", err)
	}
	s := &server{t: t, port: freePort(t), dir: t.TempDir(), opts: opts}
	s.args = append([]string{"--port", strconv.Itoa(s.port), "--bind", "127.0.0.1", "--dir", s.dir,
		"--save", "", "--daemonize", "no", "--logfile", filepath.Join(s.dir, "redis.log")}, extra...)
	for i, a := range s.args {
		if a == "{port}" { // lets extra arguments name the chosen port
			s.args[i] = strconv.Itoa(s.port)
		}
	}
	s.start()
	t.Cleanup(s.kill)
	return s
}

func (s *server) addr() string { return "127.0.0.1:" + strconv.Itoa(s.port) }

func (s *server) start() {
	s.t.Helper()
	s.cmd = exec.Command("redis-server", s.args...)
	s.cmd.Stdout, s.cmd.Stderr = os.Stderr, os.Stderr
	if err := s.cmd.Start(); err != nil {
		s.t.Fatalf("starting redis-server: %v", err)
	}
	o := goredis.Options{DisableIdentity: true}
	if s.opts != nil {
		o = *s.opts
	}
	o.Addr, o.MaxRetries = s.addr(), -1
	c := goredis.NewClient(&o)
	defer c.Close()
	for i := 0; ; i++ {
		if err := c.Ping(context.Background()).Err(); err == nil {
			return
		} else if i == 800 {
			log, _ := os.ReadFile(filepath.Join(s.dir, "redis.log"))
			s.t.Fatalf("redis-server on %s not answering: %v\n%s", s.addr(), err, log)
		}
		time.Sleep(25 * time.Millisecond)
	}
}

// kill stops the server with SIGKILL and waits for it.
func (s *server) kill() {
	if s.cmd == nil || s.cmd.Process == nil {
		return
	}
	_ = s.cmd.Process.Kill()
	_ = s.cmd.Wait()
	s.cmd = nil
}
