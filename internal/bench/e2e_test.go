package bench

import (
	"testing"
	"time"
)

func TestPercentile(t *testing.T) {
	t.Parallel()
	ms := func(ns ...int) []time.Duration {
		var d []time.Duration
		for _, n := range ns {
			d = append(d, time.Duration(n)*time.Millisecond)
		}
		return d
	}
	for _, tc := range []struct {
		name   string
		sorted []time.Duration
		q      float64
		want   time.Duration
	}{
		{"empty", nil, 0.5, 0},
		{"one", ms(7), 0.99, 7 * time.Millisecond},
		{"median of 4 is the 2nd", ms(1, 2, 3, 4), 0.5, 2 * time.Millisecond},
		{"p99 of 100 is the 99th", ms(func() []int {
			var v []int
			for i := 1; i <= 100; i++ {
				v = append(v, i)
			}
			return v
		}()...), 0.99, 99 * time.Millisecond},
		{"p100 is the max", ms(1, 5, 9), 1, 9 * time.Millisecond},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if got := percentile(tc.sorted, tc.q); got != tc.want {
				t.Fatalf("percentile(%v, %v) = %v, want %v", tc.sorted, tc.q, got, tc.want)
			}
		})
	}
}

func TestE2EConfigNeedsEverything(t *testing.T) {
	t.Parallel()
	c := E2EConfig{PGDSN: "postgres://x", RedisAddr: "h:1", Table: "t", KeyPrefix: "k:"}
	if err := c.defaults(); err == nil {
		t.Fatal("no rates: want an error")
	}
	c.Rates = []int{10}
	if err := c.defaults(); err != nil || c.Workers != 4 || c.Tick != 10*time.Millisecond || c.MaxP99 != time.Second {
		t.Fatalf("defaults: %v %+v", err, c)
	}
}
