package itest

import (
	"regexp"
	"testing"
)

// TestE2EBenchCommand: `sluice bench e2e` runs its pipeline against the
// real Postgres and Redis at a small rate and prints a step table and the
// verdict (the figures themselves are for docs/benchmarks.md, not checked).
func TestE2EBenchCommand(t *testing.T) {
	pg, redis := Need(t, Postgres), Need(t, Redis)
	code, out := Sluice(t, "bench", "e2e", "--pg-dsn", pg, "--redis-addr", redis, "--rates", "200", "--step", "2s", "--max-p99", "1h")
	if code != 0 {
		t.Fatalf("sluice bench e2e: exit %d\n%s", code, out)
	}
	for _, re := range []string{
		`measuring floor \(own SET -> notification\): p50=\S+ p99=\S+`,
		`(?m)^\s+200\s+\d+\s+\d+\s+\S+\s+\S+\s+\S+\s+\d+\s+yes$`,
		`highest sustained offered rate: 200 rows/s`,
		`insert ceiling \(unpaced, pipeline running\): \d+ rows/s`,
	} {
		if !regexp.MustCompile(re).MatchString(out) {
			t.Errorf("output lacks %s\n%s", re, out)
		}
	}
}
