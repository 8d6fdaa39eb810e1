package connectors_test

import (
	"errors"
	"flag"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/sluicehq/sluice/connectors"
	"github.com/sluicehq/sluice/connectors/memconn"
)

var chaosSeed = flag.Uint64("chaos.seed", 0, "seed of TestChaos (0: random)")

// TestChaos streams changes while failures are injected at random: source
// read errors, sink write failures, a target down for a while, and whole
// runtime restarts. At the end the store must hold every key's last version
// and every version must have been written at least once. The seed is
// logged; rerun with -chaos.seed=N.
func TestChaos(t *testing.T) {
	t.Parallel()
	seed := *chaosSeed
	if seed == 0 {
		seed = rand.Uint64()
	}
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	h := newHarness(t)
	const keys, versions = 15, 12
	r := h.start(h.spec())
	for v := 1; v <= versions; v++ {
		for id := range keys {
			h.up.Append(change(id, v))
		}
		switch rng.IntN(6) {
		case 0:
			h.up.FailNextRead(errors.New("chaos: connection reset"))
		case 1:
			h.store.FailWrites(1 + rng.IntN(3))
		case 2:
			h.store.SetDown(memconn.ErrDown)
			time.Sleep(time.Duration(rng.IntN(50)) * time.Millisecond)
			h.store.SetDown(nil)
		case 3:
			r.stop(t)
			r = h.start(h.spec())
		}
		if rng.IntN(2) == 0 {
			h.up.Heartbeat()
		}
		time.Sleep(time.Duration(rng.IntN(20)) * time.Millisecond)
	}
	eventually(t, "store has every key's last version", func() bool {
		return storeHas(h.store, keys, func(int) int { return versions })
	})
	eventually(t, "upstream acked to the end", func() bool { return h.up.Acked() == h.up.Len() })
	seen := map[[2]int]bool{}
	for _, w := range h.store.Log() {
		env, err := connectors.DecodeEnvelope(w.Value)
		if err != nil {
			t.Fatal(err)
		}
		var img struct{ ID, V int }
		if err := decodeJSON(env.After, &img); err != nil {
			t.Fatal(err)
		}
		seen[[2]int{img.ID, img.V}] = true
	}
	for id := range keys {
		for v := 1; v <= versions; v++ {
			if !seen[[2]int{id, v}] {
				t.Fatalf("seed %d: id %d version %d never written", seed, id, v)
			}
		}
	}
}
