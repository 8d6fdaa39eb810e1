package redis

import (
	"context"
	"fmt"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/sluicehq/sluice/connectors"
)

// startCluster starts a 3-master Redis Cluster (own redis-servers on free
// ports) and returns its addresses once every node reports cluster_state:ok.
func startCluster(t *testing.T) []string {
	t.Helper()
	var addrs []string
	for range 3 {
		s := startServer(t, "--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf", "--cluster-node-timeout", "5000")
		addrs = append(addrs, s.addr())
	}
	args := append([]string{"--cluster", "create"}, addrs...)
	args = append(args, "--cluster-replicas", "0", "--cluster-yes")
	if out, err := exec.Command("redis-cli", args...).CombinedOutput(); err != nil {
		t.Fatalf("redis-cli %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	for _, a := range addrs {
		c := goredis.NewClient(&goredis.Options{Addr: a, DisableIdentity: true})
		for i := 0; ; i++ {
			info, _ := c.ClusterInfo(context.Background()).Result()
			if strings.Contains(info, "cluster_state:ok") {
				break
			}
			if i == 1200 {
				t.Fatalf("cluster node %s not ok: %s", a, info)
			}
			time.Sleep(25 * time.Millisecond)
		}
		_ = c.Close()
	}
	return addrs
}

// TestCluster runs the sink against a real 3-node Redis Cluster: both
// modes, keys spread over every master, rebuild sweeps and truncates
// reaching every master.
func TestCluster(t *testing.T) {
	t.Parallel()
	addrs := startCluster(t)
	rc := goredis.NewClusterClient(&goredis.ClusterOptions{Addrs: addrs, DisableIdentity: true})
	t.Cleanup(func() { _ = rc.Close() })
	ctx := context.Background()
	for _, mode := range []string{ModeString, ModeHash} {
		p := uniq(t)
		s := openSink(t, Config{Pipeline: p, Name: "s", Addrs: addrs, Mode: mode})
		topic := p + ".public.t"
		recs, rows := stream(11, topic, "t", 500, 3000, true)
		writeAll(t, s, recs, 200)
		want := model(p+":t:", mode, rows)
		diffMaps(t, dump(t, rc, p+":"), want)
		var mu sync.Mutex
		perMaster := map[string]int{}
		if err := rc.ForEachMaster(ctx, func(ctx context.Context, c *goredis.Client) error {
			n := len(c.Keys(ctx, p+":*").Val())
			mu.Lock() // fn runs on every master concurrently
			perMaster[c.Options().Addr] = n
			mu.Unlock()
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		for a, n := range perMaster {
			if n == 0 {
				t.Errorf("%s: master %s holds no key (%v)", mode, a, perMaster)
			}
		}
		if len(perMaster) != 3 {
			t.Fatalf("%d masters, want 3", len(perMaster))
		}

		// Rebuild: the replay carries only the live rows whose id is even;
		// the others must be swept from every master.
		if err := s.BeginRebuild(ctx); err != nil {
			t.Fatal(err)
		}
		var replay []connectors.Record
		kept := map[string]string{}
		for id, r := range rows {
			if r.alive && id%2 == 0 {
				replay = append(replay, rec(topic, fmt.Sprintf(`{"id":%d}`, id), env("r", "t", "",
					fmt.Sprintf(`{"id":%d,"body":%q,"v":%d,"x":%q}`, id, r.body, r.v, r.x))))
				k := fmt.Sprintf("%s:t:%d", p, id)
				kept[k] = want[k]
			}
		}
		writeAll(t, s, replay, 100)
		if err := s.FinishRebuild(ctx); err != nil {
			t.Fatal(err)
		}
		got := dump(t, rc, p+":")
		if len(got) != len(kept) {
			t.Errorf("%s: %d keys after rebuild, want %d", mode, len(got), len(kept))
		}
		for k := range kept {
			if _, ok := got[k]; !ok {
				t.Errorf("%s: rebuild removed live key %s", mode, k)
			}
		}
		if pr := s.RebuildProgress(); pr.KeysSwept != int64(len(want)-len(kept)) {
			t.Errorf("%s: swept %d, want %d", mode, pr.KeysSwept, len(want)-len(kept))
		}

		// Truncate reaches every master.
		write(t, s, rec(topic, "", env("t", "t", "", "")))
		if got := dump(t, rc, p+":"); len(got) != 0 {
			t.Errorf("%s: %d keys after truncate", mode, len(got))
		}
	}
}
