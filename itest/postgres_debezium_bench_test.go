package itest

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

var (
	pgdbzRows    = flag.Int("pgdbz.rows", 200_000, "rows per streaming round of BenchmarkPostgresVsDebezium")
	pgdbzRounds  = flag.Int("pgdbz.rounds", 5, "paired streaming rounds of BenchmarkPostgresVsDebezium (order alternates)")
	pgdbzRate    = flag.Int("pgdbz.rate", 5000, "rows/s of the paced writer in the latency phase")
	pgdbzLatency = flag.Duration("pgdbz.latency", 10*time.Second, "how long the paced writer of the latency phase runs")
	pgdbzDataDir = flag.String("pgdbz.datadir", "", "parent directory of the embedded broker's data (default: the test's temp dir; e.g. /dev/shm to take the disk's fsync out)")
	pgdbzDbzConf = flag.String("pgdbz.dbzconf", "", "extra Debezium connector properties, comma-separated key=value (default: Debezium's defaults)")
)

// pgdbzSide is one system under test: a database of its own on the shared
// Postgres (so neither walsender decodes the other's rows beyond skipping
// their WAL records), the process streaming it, and the broker it lands in.
type pgdbzSide struct {
	name  string
	dsn   string
	conn  *pgx.Conn
	adm   *kadm.Client
	seeds string
	topic string
	next  int // next id to insert
}

// BenchmarkPostgresVsDebezium is the Debezium anchor of issue 6: the same
// N-row INSERT streamed by `sluice run` (Postgres source -> embedded broker,
// acks=all) and by Debezium 3.7.0.Final's Postgres connector in Kafka Connect
// 4.3.1 standalone (scripts/debezium, pgoutput, no snapshot) into Apache
// Kafka 4.3.1 (acks=all, Connect's default). Each side streams from its own
// database of the same server; both processes run throughout, rounds
// alternate which side goes first, and a round's rate is N / (time from the
// INSERT's commit returning until the topic's end offsets grew by N). Then a
// paced writer (-pgdbz.rate rows/s, ten-row transactions every 2 ms) gives
// the commit-to-readable latency: commit return -> a consumer on the broker
// receiving the row.
//
//	scripts/services up; eval "$(scripts/services env)"
//	scripts/kafka/kafka up; eval "$(scripts/kafka/kafka env)"
//	go test -run XXX -bench PostgresVsDebezium -benchtime 1x -timeout 30m ./itest/
func BenchmarkPostgresVsDebezium(b *testing.B) {
	dsn, kafka := Need(b, Postgres), Need(b, Kafka)
	ctx, cancel := context.WithTimeout(context.Background(), 25*time.Minute)
	defer cancel()
	s := suffix()
	sl, dz := pgdbzSetup(ctx, b, dsn, s)
	dir := b.TempDir()
	runOut, stopRun := sl.startSluice(b, dir, "never")
	defer stopRun()
	t0 := time.Now()
	defer dz.startDebezium(ctx, b, dir, kafka, s, "no_data")()
	b.Logf("Debezium connector RUNNING after %s", time.Since(t0).Round(time.Millisecond))
	// The sluice side streams once its slot is active.
	pgdbzWait(ctx, b, runOut, "the sluice slot to be active", func() bool {
		var n int
		_ = sl.conn.QueryRow(ctx, "SELECT count(*) FROM pg_replication_slots WHERE slot_name = 'sluice_pgdbz' AND active").Scan(&n)
		return n == 1
	})

	// Warm-up: both sides stream one round first (the JVM's JIT, topic
	// creation, the broker's first segments).
	for _, side := range []*pgdbzSide{sl, dz} {
		if _, err := side.round(ctx, b, runOut, *pgdbzRows); err != nil {
			b.Fatal(err)
		}
	}
	b.ResetTimer()
	n := *pgdbzRows
	var slRates, dzRates, ratios []float64
	for r := range *pgdbzRounds {
		order := []*pgdbzSide{sl, dz}
		if r%2 == 1 {
			order = []*pgdbzSide{dz, sl}
		}
		rates := map[string]float64{}
		for _, side := range order {
			d, err := side.round(ctx, b, runOut, n)
			if err != nil {
				b.Fatal(err)
			}
			rates[side.name] = float64(n) / d.Seconds()
		}
		slRates, dzRates = append(slRates, rates["sluice"]), append(dzRates, rates["debezium"])
		ratios = append(ratios, rates["sluice"]/rates["debezium"])
		b.Logf("round %d (%s first): sluice %.0f rows/s, debezium %.0f rows/s, ratio %.2f", r+1, order[0].name, rates["sluice"], rates["debezium"], ratios[r])
	}
	b.ReportMetric(pgdbzMedian(slRates), "sluice_rows/s")
	b.ReportMetric(pgdbzMedian(dzRates), "debezium_rows/s")
	b.ReportMetric(pgdbzMedian(ratios), "ratio_median")

	// Commit-to-readable latency at a paced rate, each side in turn.
	for _, side := range []*pgdbzSide{sl, dz} {
		lat, rate, err := side.latency(ctx, b, *pgdbzRate, *pgdbzLatency)
		if err != nil {
			b.Fatalf("%s latency: %v\n%s", side.name, err, runOut.String())
		}
		q := func(f float64) time.Duration { return lat[min(len(lat)-1, int(f*float64(len(lat))))] }
		b.Logf("%s commit->readable at %.0f rows/s offered (%d rows): p50 %s p90 %s p99 %s p99.9 %s max %s", side.name, rate, len(lat),
			q(0.50).Round(10*time.Microsecond), q(0.90).Round(10*time.Microsecond), q(0.99).Round(10*time.Microsecond),
			q(0.999).Round(10*time.Microsecond), lat[len(lat)-1].Round(10*time.Microsecond))
		b.ReportMetric(float64(q(0.50).Microseconds())/1000, side.name+"_p50_ms")
		b.ReportMetric(float64(q(0.99).Microseconds())/1000, side.name+"_p99_ms")
	}
}

// BenchmarkPostgresSnapshotVsDebezium: the same -pgdbz.rows-row table
// snapshotted by `sluice run` (snapshot: initial, into the embedded broker)
// and by Debezium (snapshot.mode=initial, into Apache Kafka), one after the
// other, each freshly started. It reports both the rate from the first
// record to the last (excluding process start: Connect's JVM takes 8-20 s)
// and from launch to the last record.
//
//	go test ./itest/ -run XXX -bench PostgresSnapshotVsDebezium -benchtime 1x -timeout 30m
func BenchmarkPostgresSnapshotVsDebezium(b *testing.B) {
	dsn, kafka := Need(b, Postgres), Need(b, Kafka)
	ctx, cancel := context.WithTimeout(context.Background(), 25*time.Minute)
	defer cancel()
	s := suffix()
	sl, dz := pgdbzSetup(ctx, b, dsn, s)
	n := *pgdbzRows
	for _, side := range []*pgdbzSide{sl, dz} {
		if err := side.insert(ctx, n); err != nil {
			b.Fatal(err)
		}
		if _, err := side.conn.Exec(ctx, "VACUUM ANALYZE items"); err != nil {
			b.Fatal(err)
		}
	}
	dir := b.TempDir()
	b.ResetTimer()
	// watch polls the side's topic from launch until it holds n records
	// (ok false: gave up after 10 minutes). It may run on any goroutine.
	watch := func(p *pgdbzSide, launched time.Time) (first, last time.Duration, ok bool) {
		// Poll only once the broker listens: a client dialing a closed
		// port backs off and would see the first records late.
		for ctx.Err() == nil {
			if c, err := net.DialTimeout("tcp", p.seeds, time.Second); err == nil {
				_ = c.Close()
				break
			}
			time.Sleep(5 * time.Millisecond)
		}
		for deadline := launched.Add(10 * time.Minute); time.Now().Before(deadline) && ctx.Err() == nil; time.Sleep(5 * time.Millisecond) {
			e := p.end(ctx)
			if e > 0 && first == 0 {
				first = time.Since(launched)
			}
			if e >= int64(n) {
				return first, time.Since(launched), true
			}
		}
		return first, 0, false
	}
	rates := map[string][2]float64{}
	Binary(b) // built before the clock starts
	t0 := time.Now()
	out, stop := sl.startSluice(b, dir, "initial")
	f, l, ok := watch(sl, t0)
	stop()
	if !ok {
		b.Fatalf("sluice did not snapshot %d rows:\n%s", n, out.String())
	}
	rates["sluice"] = [2]float64{float64(n) / (l - f).Seconds(), float64(n) / l.Seconds()}
	b.Logf("sluice: first record after %s, all %d after %s", f.Round(time.Millisecond), n, l.Round(time.Millisecond))

	t0 = time.Now()
	type result struct {
		f, l time.Duration
		ok   bool
	}
	done := make(chan result, 1)
	dz.setSeeds(b, kafka, pgdbzDbzTopic(s, "initial"))
	go func() { // Debezium may snapshot before its start script returns
		f, l, ok := watch(dz, t0)
		done <- result{f, l, ok}
	}()
	stopDz := dz.startDebezium(ctx, b, dir, kafka, s, "initial")
	r := <-done
	stopDz()
	if !r.ok {
		b.Fatalf("Debezium did not snapshot %d rows", n)
	}
	fl := [2]time.Duration{r.f, r.l}
	rates["debezium"] = [2]float64{float64(n) / (fl[1] - fl[0]).Seconds(), float64(n) / fl[1].Seconds()}
	b.Logf("debezium: first record after %s, all %d after %s", fl[0].Round(time.Millisecond), n, fl[1].Round(time.Millisecond))
	b.ReportMetric(rates["sluice"][0], "sluice_rows/s")
	b.ReportMetric(rates["debezium"][0], "debezium_rows/s")
	b.ReportMetric(rates["sluice"][0]/rates["debezium"][0], "ratio")
	b.ReportMetric(rates["sluice"][1]/rates["debezium"][1], "ratio_from_launch")
}

// insert writes rows [next, next+n) in one statement (one transaction) and
// returns when its commit returned.
func (p *pgdbzSide) insert(ctx context.Context, n int) error {
	_, err := p.conn.Exec(ctx, `INSERT INTO items SELECT g, 'customer ' || g, g * 1.25, now(), g % 2 = 0,
		jsonb_build_object('k', g, 'tags', jsonb_build_array('a', 'b')) FROM generate_series($1::int, $2::int) g`, p.next, p.next+n-1)
	p.next += n
	return err
}

// end is the sum of the topic's end offsets (0 before it exists).
func (p *pgdbzSide) end(ctx context.Context) int64 {
	// Bounded: the client retries a topic it does not know yet for seconds.
	ctx, cancel := context.WithTimeout(ctx, 250*time.Millisecond)
	defer cancel()
	offs, err := p.adm.ListEndOffsets(ctx, p.topic)
	if err != nil {
		return 0
	}
	var sum int64
	offs.Each(func(o kadm.ListedOffset) {
		if o.Err == nil {
			sum += o.Offset
		}
	})
	return sum
}

// round inserts n rows and returns the time from the commit returning until
// the topic grew by n records.
func (p *pgdbzSide) round(ctx context.Context, b *testing.B, out *lockedBuffer, n int) (time.Duration, error) {
	base := p.end(ctx)
	if err := p.insert(ctx, n); err != nil {
		return 0, err
	}
	t0 := time.Now()
	pgdbzWait(ctx, b, out, fmt.Sprintf("%s to stream %d rows", p.name, n), func() bool { return p.end(ctx) >= base+int64(n) })
	return time.Since(t0), nil
}

// latency runs a writer paced at rate rows/s for d (ten-row transactions
// every 2 ms, stamped when their commit returns) and a consumer on the
// broker stamping each row's arrival; it returns the sorted per-row
// latencies and the achieved insert rate.
func (p *pgdbzSide) latency(ctx context.Context, b *testing.B, rate int, d time.Duration) ([]time.Duration, float64, error) {
	total := int(float64(rate) * d.Seconds())
	first := p.next
	committed := make([]time.Time, total)
	arrived := make([]time.Time, total)
	// Consume every partition from its current end, so the first row
	// written is the first one read.
	offs, err := p.adm.ListEndOffsets(ctx, p.topic)
	if err != nil {
		return nil, 0, err
	}
	from := map[string]map[int32]kgo.Offset{p.topic: {}}
	offs.Each(func(o kadm.ListedOffset) { from[p.topic][o.Partition] = kgo.NewOffset().At(o.Offset) })
	cl, err := kgo.NewClient(kgo.SeedBrokers(p.seeds), kgo.ConsumePartitions(from))
	if err != nil {
		return nil, 0, err
	}
	defer cl.Close()
	cctx, stop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Add(1)
	seen := 0
	go func() { // consumer: owns arrived
		defer wg.Done()
		for seen < total {
			fs := cl.PollFetches(cctx)
			now := time.Now()
			if cctx.Err() != nil {
				return
			}
			fs.EachRecord(func(r *kgo.Record) {
				id, ok := pgdbzKeyID(r.Key)
				if i := id - first; ok && i >= 0 && i < total && arrived[i].IsZero() {
					arrived[i] = now
					seen++
				}
			})
		}
	}()
	// Writer: on this goroutine, owns committed.
	const batch, tick = 10, 2 * time.Millisecond
	start := time.Now()
	for done := 0; done < total; {
		due := int(float64(rate) * time.Since(start).Seconds())
		if k := min(due-done, total-done, 5*batch); k > 0 {
			if err := p.insert(ctx, k); err != nil {
				stop()
				wg.Wait()
				return nil, 0, err
			}
			now := time.Now()
			for i := done; i < done+k; i++ {
				committed[i] = now
			}
			done += k
			continue
		}
		time.Sleep(tick)
	}
	achieved := float64(total) / time.Since(start).Seconds()
	waitDone := make(chan struct{})
	go func() { wg.Wait(); close(waitDone) }()
	select {
	case <-waitDone:
	case <-time.After(2 * time.Minute):
		stop()
		<-waitDone
		return nil, 0, fmt.Errorf("only %d of %d rows arrived", seen, total)
	}
	stop()
	lat := make([]time.Duration, total)
	for i := range total {
		lat[i] = max(arrived[i].Sub(committed[i]), 0)
	}
	slices.Sort(lat)
	return lat, achieved, nil
}

// pgdbzKeyID reads the id of a record key: {"id":N} or a schema envelope's
// {"payload":{"id":N}}.
func pgdbzKeyID(key []byte) (int, bool) {
	var k struct {
		ID      json.Number `json:"id"`
		Payload *struct {
			ID json.Number `json:"id"`
		} `json:"payload"`
	}
	if json.Unmarshal(key, &k) != nil {
		return 0, false
	}
	s := k.ID
	if k.Payload != nil {
		s = k.Payload.ID
	}
	id, err := strconv.Atoi(string(s))
	return id, err == nil
}

func pgdbzWait(ctx context.Context, b *testing.B, out *lockedBuffer, what string, cond func() bool) {
	b.Helper()
	deadline := time.Now().Add(5 * time.Minute)
	for !cond() {
		if ctx.Err() != nil || time.Now().After(deadline) {
			b.Fatalf("gave up waiting for %s; sluice run output:\n%s", what, out.String())
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func pgdbzMedian(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := slices.Clone(v)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func pgdbzFreeAddr(b *testing.B) string {
	b.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// pgdbzDropDB drops a benchmark database after dropping its slots (a
// logical slot blocks DROP DATABASE).
func pgdbzDropDB(b *testing.B, dsn, db string) {
	c := context.Background()
	u, err := url.Parse(dsn)
	if err != nil {
		return
	}
	u.Path = "/" + db
	if cc, err := pgx.Connect(c, u.String()); err == nil {
		rows, _ := cc.Query(c, "SELECT slot_name FROM pg_replication_slots WHERE database = current_database()")
		slots, _ := pgx.CollectRows(rows, pgx.RowTo[string])
		for _, slot := range slots {
			DropSlot(c, func(ctx context.Context, q string, args ...any) error {
				_, err := cc.Exec(ctx, q, args...)
				return err
			}, slot)
		}
		_ = cc.Close(c)
	}
	cc, err := pgx.Connect(c, dsn)
	if err != nil {
		b.Logf("dropping %s: %v", db, err)
		return
	}
	defer cc.Close(c)
	if _, err := cc.Exec(c, "DROP DATABASE IF EXISTS "+db+" WITH (FORCE)"); err != nil {
		b.Logf("dropping %s: %v", db, err)
	}
}

// pgdbzSetup creates one database per side with the same empty items table.
func pgdbzSetup(ctx context.Context, b *testing.B, dsn, s string) (sl, dz *pgdbzSide) {
	admin, err := pgx.Connect(ctx, dsn)
	if err != nil {
		b.Fatal(err)
	}
	defer admin.Close(context.Background())
	sides := map[string]*pgdbzSide{}
	for _, name := range []string{"sluice", "debezium"} {
		db := "bench_" + name + "_" + s
		if _, err := admin.Exec(ctx, "CREATE DATABASE "+db); err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { pgdbzDropDB(b, dsn, db) })
		u, err := url.Parse(dsn)
		if err != nil {
			b.Fatal(err)
		}
		u.Path = "/" + db
		side := &pgdbzSide{name: name, dsn: u.String(), next: 1}
		if side.conn, err = pgx.Connect(ctx, side.dsn); err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { _ = side.conn.Close(context.Background()) })
		if _, err := side.conn.Exec(ctx, "CREATE TABLE items (id int PRIMARY KEY, name text, amount numeric(12,2), created timestamptz, flag boolean, payload jsonb)"); err != nil {
			b.Fatal(err)
		}
		sides[name] = side
	}
	return sides["sluice"], sides["debezium"]
}

// setSeeds points the side's admin client at its broker (once: a second
// call with the same broker and topic changes nothing).
func (p *pgdbzSide) setSeeds(b *testing.B, seeds, topic string) {
	if p.adm != nil && p.seeds == seeds && p.topic == topic {
		return
	}
	p.seeds, p.topic = seeds, topic
	// A short metadata min age: the default (5 s) would hide a topic
	// created just after a poll found it missing.
	cl, err := kgo.NewClient(kgo.SeedBrokers(seeds), kgo.MetadataMinAge(10*time.Millisecond))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(cl.Close)
	p.adm = kadm.NewClient(cl)
}

// startSluice runs `sluice run`, exactly as a user runs it: the Postgres
// source (snapshot mode as given) into the embedded broker. The returned
// func stops it.
func (p *pgdbzSide) startSluice(b *testing.B, dir, snapshot string) (*lockedBuffer, func()) {
	dir = filepath.Join(dir, "sluice-"+snapshot)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		b.Fatal(err)
	}
	data := filepath.Join(dir, "data")
	if *pgdbzDataDir != "" {
		d, err := os.MkdirTemp(*pgdbzDataDir, "sluice-pgdbz-")
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { _ = os.RemoveAll(d) })
		data = d
	}
	p.setSeeds(b, pgdbzFreeAddr(b), "pgdbz.public.items")
	file := filepath.Join(dir, "pipeline.yaml")
	yaml := fmt.Sprintf(`version: 1
broker:
  embedded: {data_dir: %s, listen: %s}
pipelines:
  - name: pgdbz
    source:
      type: postgres
      dsn: %s
      tables: [public.items]
      snapshot: %s
`, data, p.seeds, p.dsn, snapshot)
	if err := os.WriteFile(file, []byte(yaml), 0o600); err != nil {
		b.Fatal(err)
	}
	run := exec.Command(Binary(b), "run", "-f", file, "--metrics-listen", pgdbzFreeAddr(b))
	out := &lockedBuffer{}
	run.Stdout, run.Stderr = out, out
	if err := run.Start(); err != nil {
		b.Fatal(err)
	}
	return out, func() {
		_ = run.Process.Signal(os.Interrupt)
		_ = run.Wait()
	}
}

// startDebezium starts Debezium's Postgres connector in Connect standalone
// (scripts/debezium) into Apache Kafka and returns once its task runs; the
// returned func stops it.
func (p *pgdbzSide) startDebezium(ctx context.Context, b *testing.B, dir, kafka, s, snapshotMode string) func() {
	dzDir := filepath.Join(dir, "debezium-"+snapshotMode)
	u, _ := url.Parse(p.dsn)
	pw, _ := u.User.Password()
	p.setSeeds(b, kafka, pgdbzDbzTopic(s, snapshotMode))
	prefix := strings.TrimSuffix(p.topic, ".public.items")
	start := exec.CommandContext(ctx, "../scripts/debezium/debezium", "start", dzDir)
	start.Env = append(os.Environ(), "DBZ_BOOTSTRAP="+kafka, "DBZ_PG_HOST="+u.Hostname(), "DBZ_PG_PORT="+u.Port(),
		"DBZ_PG_USER="+u.User.Username(), "DBZ_PG_PASSWORD="+pw, "DBZ_PG_DB="+u.Path[1:], "DBZ_TABLE=public.items",
		"DBZ_SLOT=dbz_bench", "DBZ_PUBLICATION=dbz_bench", "DBZ_TOPIC_PREFIX="+prefix, "DBZ_SNAPSHOT_MODE="+snapshotMode,
		"DBZ_CONNECTOR_EXTRA="+strings.ReplaceAll(*pgdbzDbzConf, ",", "\n"))
	if out, err := start.CombinedOutput(); err != nil {
		b.Fatalf("starting Debezium: %v\n%s", err, out)
	}
	return func() {
		if out, err := exec.Command("../scripts/debezium/debezium", "stop", dzDir).CombinedOutput(); err != nil {
			b.Logf("stopping Debezium: %v\n%s", err, out)
		}
	}
}

// pgdbzDbzTopic is the topic Debezium writes the items table to.
func pgdbzDbzTopic(s, snapshotMode string) string {
	return "dbz" + strings.ReplaceAll(s, "_", "") + strings.ReplaceAll(snapshotMode, "_", "") + ".public.items"
}
