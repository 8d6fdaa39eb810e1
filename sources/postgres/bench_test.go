package postgres

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net/url"
	"os/exec"
	"slices"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/sluicehq/sluice/itest"
)

var (
	benchRows  = flag.Int("pg.benchrows", 200000, "rows per Postgres source benchmark")
	benchPairs = flag.Int("pg.pairs", 5, "paired runs of BenchmarkStreamVsRecvlogical (order alternates; the median ratio is reported)")
)

type benchEnv struct {
	dsn  string
	pool *pgxpool.Pool
	name string
}

func newBenchEnv(b *testing.B) *benchEnv {
	dsn := itest.Need(b, itest.Postgres)
	pool, err := pgxpool.New(context.Background(), dsn)
	if err != nil {
		b.Fatal(err)
	}
	be := &benchEnv{dsn: dsn, pool: pool, name: fmt.Sprintf("bench%d", time.Now().UnixNano()%1e9)}
	b.Cleanup(func() {
		ctx := context.Background()
		dropSlots(pool, "%"+be.name+"%")
		_, _ = pool.Exec(ctx, "DROP PUBLICATION IF EXISTS sluice_"+be.name)
		_, _ = pool.Exec(ctx, "DROP TABLE IF EXISTS "+be.name)
		pool.Close()
	})
	be.exec(b, "CREATE TABLE "+be.name+" (id int PRIMARY KEY, name text, amount numeric(12,2), created timestamptz, flag boolean, payload jsonb)")
	return be
}

func (be *benchEnv) exec(b *testing.B, q string) {
	if _, err := be.pool.Exec(context.Background(), q); err != nil {
		b.Fatalf("%s: %v", q, err)
	}
}

func (be *benchEnv) fill(b *testing.B, n int) { be.fillFrom(b, 1, n) }

// fillFrom inserts ids [lo, lo+n) in one statement.
func (be *benchEnv) fillFrom(b *testing.B, lo, n int) {
	be.exec(b, fmt.Sprintf(`INSERT INTO %s SELECT g, 'customer ' || g, g * 1.25, now(), g %% 2 = 0, jsonb_build_object('k', g, 'tags', jsonb_build_array('a', 'b'))
		FROM generate_series(%d, %d) g`, be.name, lo, lo+n-1))
}

// BenchmarkStreamVsRecvlogical replays the same n inserts through the source
// (decoded into envelopes) and through pg_recvlogical -P pgoutput (bytes to
// /dev/null), each from its own slot created before the inserts. It runs
// -pg.pairs paired runs, each on fresh slots and a fresh n-row INSERT, and
// alternates which side replays first (the first replay of new WAL pays for
// cold caches and the other side's reorder-buffer spill files share the
// disk), then reports the median ratio: single pairs on a shared 2-core VM
// scatter with the load.
//
//	eval "$(scripts/services env)"; go test -run XXX -bench StreamVsRecvlogical -benchtime 1x ./sources/postgres/
func BenchmarkStreamVsRecvlogical(b *testing.B) {
	be := newBenchEnv(b)
	n := *benchRows
	ctx := context.Background()
	pub := "sluice_" + be.name
	u, _ := url.Parse(be.dsn)
	pw, _ := u.User.Password()
	conn := fmt.Sprintf("host=%s port=%s user=%s dbname=%s", u.Hostname(), u.Port(), u.User.Username(), u.Path[1:])
	if pw != "" {
		conn += " password=" + pw
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		var ours, peers, ratios []float64
		for pair := range *benchPairs {
			cfg := Config{Pipeline: be.name, DSN: be.dsn, Tables: []string{be.name}, Snapshot: SnapshotNever,
				StatusInterval: time.Second, Publication: pub, Slot: fmt.Sprintf("sluice_%s_%d", be.name, pair)}
			s, err := New(cfg)
			if err != nil {
				b.Fatal(err)
			}
			if err := s.Open(ctx, nil); err != nil { // creates publication and slot
				b.Fatal(err)
			}
			_ = s.Close(ctx)
			peerSlot := fmt.Sprintf("peer_%s_%d", be.name, pair)
			be.exec(b, "SELECT pg_create_logical_replication_slot('"+peerSlot+"', 'pgoutput')")
			be.fillFrom(b, pair*n+1, n)
			var end string
			if err := be.pool.QueryRow(ctx, "SELECT pg_current_wal_lsn()::text").Scan(&end); err != nil {
				b.Fatal(err)
			}
			peer := func() time.Duration {
				cmd := exec.Command("pg_recvlogical", "-d", conn, "--slot", peerSlot, "--start", "-P", "pgoutput",
					"-o", "proto_version=1", "-o", "publication_names="+pub, "-E", end, "-n", "-f", "/dev/null")
				t0 := time.Now()
				if out, err := cmd.CombinedOutput(); err != nil {
					b.Fatalf("pg_recvlogical: %v: %s", err, out)
				}
				return time.Since(t0)
			}
			source := func() time.Duration {
				s, err := New(cfg)
				if err != nil {
					b.Fatal(err)
				}
				t0 := time.Now()
				if err := s.Open(ctx, nil); err != nil {
					b.Fatal(err)
				}
				got := 0
				for got < n {
					batch, err := s.Read(ctx)
					if err != nil {
						b.Fatal(err)
					}
					got += len(batch.Records)
				}
				d := time.Since(t0)
				_ = s.Close(ctx)
				return d
			}
			var dp, ds time.Duration
			if pair%2 == 0 {
				dp, ds = peer(), source()
			} else {
				ds, dp = source(), peer()
			}
			ours, peers = append(ours, float64(n)/ds.Seconds()), append(peers, float64(n)/dp.Seconds())
			ratios = append(ratios, dp.Seconds()/ds.Seconds())
			b.Logf("pair %d (%s first): source %.0f rows/s, pg_recvlogical %.0f rows/s, ratio %.2f",
				pair+1, map[bool]string{true: "pg_recvlogical", false: "source"}[pair%2 == 0], ours[pair], peers[pair], ratios[pair])
			dropSlots(be.pool, "%_"+be.name+fmt.Sprintf("_%d", pair))
		}
		b.ReportMetric(median(ours), "source_rows/s")
		b.ReportMetric(median(peers), "recvlogical_rows/s")
		b.ReportMetric(median(ratios), "ratio_median")
		b.ReportMetric(slices.Min(ratios), "ratio_min")
	}
}

func median(v []float64) float64 {
	s := slices.Clone(v)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// BenchmarkSnapshotVsCopy reads the same n rows through the source's
// snapshot (initial_only: envelopes) and through COPY (SELECT ...) TO STDOUT
// into io.Discard.
//
//	eval "$(scripts/services env)"; go test -run XXX -bench SnapshotVsCopy -benchtime 1x ./sources/postgres/
func BenchmarkSnapshotVsCopy(b *testing.B) {
	be := newBenchEnv(b)
	n := *benchRows
	ctx := context.Background()
	be.fill(b, n)
	be.exec(b, "VACUUM ANALYZE "+be.name)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		pc, err := pgconn.Connect(ctx, be.dsn)
		if err != nil {
			b.Fatal(err)
		}
		t0 := time.Now()
		if _, err := pc.CopyTo(ctx, io.Discard, "COPY (SELECT * FROM "+be.name+") TO STDOUT"); err != nil {
			b.Fatal(err)
		}
		peer := time.Since(t0)
		_ = pc.Close(ctx)

		s, err := New(Config{Pipeline: be.name, DSN: be.dsn, Tables: []string{be.name}, Snapshot: SnapshotInitialOnly})
		if err != nil {
			b.Fatal(err)
		}
		t0 = time.Now()
		if err := s.Open(ctx, nil); err != nil {
			b.Fatal(err)
		}
		got := 0
		for got < n {
			batch, err := s.Read(ctx)
			if err != nil {
				b.Fatal(err)
			}
			got += len(batch.Records)
		}
		ours := time.Since(t0)
		_ = s.Close(ctx)
		b.ReportMetric(float64(n)/ours.Seconds(), "source_rows/s")
		b.ReportMetric(float64(n)/peer.Seconds(), "copy_rows/s")
		b.ReportMetric(peer.Seconds()/ours.Seconds(), "ratio")
	}
}
