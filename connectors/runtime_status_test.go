package connectors

import (
	"testing"
	"time"
)

func TestProgressMeter(t *testing.T) {
	t.Parallel()
	var m progressMeter
	t0 := time.Unix(1000, 0)
	if d, tot, rate, eta := m.progress(); d != 0 || tot != 0 || rate != 0 || eta != -1 {
		t.Fatalf("empty meter: %d %d %v %v", d, tot, rate, eta)
	}
	m.observe(t0, 0, 1000)
	m.observe(t0.Add(10*time.Second), 100, 1000)
	d, tot, rate, eta := m.progress()
	if d != 100 || tot != 1000 || rate != 10 || eta != 90 {
		t.Fatalf("got %d/%d at %v/s eta %v, want 100/1000 at 10/s eta 90", d, tot, rate, eta)
	}
	// Samples older than the window are dropped: the rate follows the
	// recent pace.
	m.observe(t0.Add(100*time.Second), 100, 1000)
	m.observe(t0.Add(110*time.Second), 400, 1000)
	if _, _, rate, _ := m.progress(); rate != 30 {
		t.Fatalf("rate %v, want 30 over the last window", rate)
	}
	m.observe(t0.Add(111*time.Second), 1000, 1000)
	if _, _, _, eta := m.progress(); eta != 0 {
		t.Fatalf("eta %v when done", eta)
	}
}

func TestBackoff(t *testing.T) {
	t.Parallel()
	b := Backoff{Min: 100 * time.Millisecond, Max: time.Second}.withDefaults()
	want := []time.Duration{100, 200, 400, 800, 1000, 1000}
	for i, w := range want {
		if got := b.delay(i); got != w*time.Millisecond {
			t.Errorf("delay(%d) = %v, want %v", i, got, w*time.Millisecond)
		}
	}
	if d := (Backoff{}).withDefaults(); d.Min != 500*time.Millisecond || d.Max != 30*time.Second {
		t.Errorf("defaults %+v", d)
	}
}
