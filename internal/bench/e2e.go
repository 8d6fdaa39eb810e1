package bench

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	goredis "github.com/redis/go-redis/v9"
)

// E2EConfig is one end-to-end run: rows inserted into a Postgres table at
// paced rates while a pipeline (started by the caller) streams them
// through a broker into Redis; each row's latency is from the return of
// its INSERT's commit to Redis announcing the key's SET (a keyspace
// notification).
type E2EConfig struct {
	PGDSN     string
	RedisAddr string
	RedisDB   int
	// Table is created fresh (dropped first); KeyPrefix is the Redis key of
	// a row without its id (the sink's key template up to "{id}").
	Table     string
	KeyPrefix string
	// Rates are the offered rows/s of each step, in order; the run stops
	// after the first step that is not sustained.
	Rates []int
	Step  time.Duration // length of each step
	// Tick is how often the pacer hands a batch of rows (one multi-row
	// INSERT, one transaction) to the workers; default 10ms.
	Tick    time.Duration
	Workers int // Postgres connections inserting; default 4
	PadSize int // bytes of text per row besides the id; default 100
	// MaxP99 is the highest p99 a sustained step may have; default 1s.
	MaxP99 time.Duration
	Logger *slog.Logger
}

// E2EStep is the outcome of one rate.
type E2EStep struct {
	Rate       int     // offered rows/s
	Achieved   float64 // rows/s committed
	Rows       int     // committed
	Visible    int     // seen in Redis by the end of the drain
	P50, P99   time.Duration
	Max        time.Duration
	MaxBacklog int // most rows committed and not yet visible at once
	Sustained  bool
	Why        string // why not sustained
}

// E2EResult is every step plus the same-run anchors.
type E2EResult struct {
	Steps []E2EStep
	// InsertCeiling is rows/s the workers committed unpaced (the pipeline
	// running): the physical limit of this load generator on this database.
	InsertCeiling float64
	// FloorP50/P99: a SET by the bench itself to its keyspace notification,
	// the latency floor of the measuring method.
	FloorP50, FloorP99 time.Duration
}

func (c *E2EConfig) defaults() error {
	if c.Tick <= 0 {
		c.Tick = 10 * time.Millisecond
	}
	if c.Workers <= 0 {
		c.Workers = 4
	}
	if c.PadSize <= 0 {
		c.PadSize = 100
	}
	if c.MaxP99 <= 0 {
		c.MaxP99 = time.Second
	}
	if c.Step <= 0 {
		c.Step = 15 * time.Second
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.PGDSN == "" || c.RedisAddr == "" || c.Table == "" || c.KeyPrefix == "" || len(c.Rates) == 0 {
		return errors.New("bench: e2e needs a Postgres DSN, a Redis address, a table, a key prefix and rates")
	}
	return nil
}

// PrepareE2E creates the benchmark table (dropped first) with one row,
// id 0, so the pipeline's snapshot has something to prove it is running.
func PrepareE2E(ctx context.Context, cfg E2EConfig) error {
	if err := cfg.defaults(); err != nil {
		return err
	}
	conn, err := pgx.Connect(ctx, cfg.PGDSN)
	if err != nil {
		return fmt.Errorf("bench: connecting to postgres: %w", err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	t := pgx.Identifier{cfg.Table}.Sanitize()
	_, err = conn.Exec(ctx, fmt.Sprintf("DROP TABLE IF EXISTS %s; CREATE TABLE %s (id bigint PRIMARY KEY, pad text NOT NULL); INSERT INTO %s VALUES (0, 'warm')", t, t, t))
	if err != nil {
		return fmt.Errorf("bench: creating table %s: %w", cfg.Table, err)
	}
	return nil
}

// CleanupE2E drops the table, the pipeline's slot and publication, and the
// Redis keys under KeyPrefix. Errors are joined; it tries everything.
func CleanupE2E(ctx context.Context, cfg E2EConfig, slot, publication string) error {
	var errs []error
	if conn, err := pgx.Connect(ctx, cfg.PGDSN); err != nil {
		errs = append(errs, err)
	} else {
		defer conn.Close(context.WithoutCancel(ctx))
		for _, q := range []string{
			fmt.Sprintf("SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = '%s'", strings.ReplaceAll(slot, "'", "''")),
			"DROP PUBLICATION IF EXISTS " + pgx.Identifier{publication}.Sanitize(),
			"DROP TABLE IF EXISTS " + pgx.Identifier{cfg.Table}.Sanitize(),
		} {
			if _, err := conn.Exec(ctx, q); err != nil {
				errs = append(errs, err)
			}
		}
	}
	rdb := goredis.NewClient(&goredis.Options{Addr: cfg.RedisAddr, DB: cfg.RedisDB})
	defer rdb.Close()
	iter := rdb.Scan(ctx, 0, cfg.KeyPrefix+"*", 1000).Iterator()
	var keys []string
	flush := func() {
		if len(keys) > 0 {
			if err := rdb.Unlink(ctx, keys...).Err(); err != nil {
				errs = append(errs, err)
			}
			keys = keys[:0]
		}
	}
	for iter.Next(ctx) {
		keys = append(keys, iter.Val())
		if len(keys) == 1000 {
			flush()
		}
	}
	flush()
	if err := iter.Err(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// e2eRun is the shared state of one RunE2E: commit and visibility times by
// row id (unix ns, 0 = not yet), written once each.
type e2eRun struct {
	cfg       E2EConfig
	committed []atomic.Int64
	visible   []atomic.Int64
	nCommit   atomic.Int64
	nVisible  atomic.Int64
	floor     chan time.Time // the floor probe's notification times
}

// RunE2E runs the steps. The pipeline must already stream cfg.Table into
// Redis under cfg.KeyPrefix; RunE2E waits until row 0 (PrepareE2E) is
// visible, then measures. It turns on keyspace notifications for string
// SETs ("K$" added to notify-keyspace-events) and restores the old
// setting at the end.
func RunE2E(ctx context.Context, cfg E2EConfig) (E2EResult, error) {
	if err := cfg.defaults(); err != nil {
		return E2EResult{}, err
	}
	total := 1
	for _, r := range cfg.Rates {
		total += int(float64(r)*cfg.Step.Seconds()*1.1) + 1000
	}
	ceilingRows := 200_000
	total += ceilingRows
	run := &e2eRun{cfg: cfg, committed: make([]atomic.Int64, total), visible: make([]atomic.Int64, total), floor: make(chan time.Time, 1)}

	rdb := goredis.NewClient(&goredis.Options{Addr: cfg.RedisAddr, DB: cfg.RedisDB})
	defer rdb.Close()
	old, err := rdb.ConfigGet(ctx, "notify-keyspace-events").Result()
	if err != nil {
		return E2EResult{}, fmt.Errorf("bench: reading notify-keyspace-events: %w", err)
	}
	prev := old["notify-keyspace-events"]
	want := prev
	for _, c := range "K$" {
		if !strings.ContainsRune(want, c) {
			want += string(c)
		}
	}
	if err := rdb.ConfigSet(ctx, "notify-keyspace-events", want).Err(); err != nil {
		return E2EResult{}, fmt.Errorf("bench: turning on keyspace notifications: %w", err)
	}
	defer rdb.ConfigSet(context.WithoutCancel(ctx), "notify-keyspace-events", prev)

	// The watcher goroutine, owned here: records visibility times until
	// watchCtx ends.
	watchCtx, stopWatch := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer func() { stopWatch(); wg.Wait() }()
	pattern := fmt.Sprintf("__keyspace@%d__:%s*", cfg.RedisDB, cfg.KeyPrefix)
	sub := rdb.PSubscribe(ctx, pattern)
	if _, err := sub.Receive(ctx); err != nil {
		_ = sub.Close()
		return E2EResult{}, fmt.Errorf("bench: subscribing to %s: %w", pattern, err)
	}
	chPrefix := strings.TrimSuffix(pattern, "*")
	wg.Go(func() {
		defer sub.Close()
		ch := sub.Channel(goredis.WithChannelSize(1 << 16))
		for {
			select {
			case <-watchCtx.Done():
				return
			case m, ok := <-ch:
				if !ok {
					return
				}
				now := time.Now().UnixNano()
				if m.Payload != "set" {
					continue
				}
				suffix := strings.TrimPrefix(m.Channel, chPrefix)
				if suffix == "floor" {
					select {
					case run.floor <- time.Unix(0, now):
					default:
					}
					continue
				}
				id, err := strconv.Atoi(suffix)
				if err != nil || id < 0 || id >= len(run.visible) {
					continue
				}
				if run.visible[id].CompareAndSwap(0, now) {
					run.nVisible.Add(1)
				}
			}
		}
	})

	var res E2EResult
	res.FloorP50, res.FloorP99, err = run.floorProbe(ctx, rdb)
	if err != nil {
		return res, err
	}
	// Row 0 comes with the snapshot; its SET may predate the subscription.
	if err := run.waitKey(ctx, rdb, 0, 2*time.Minute); err != nil {
		return res, err
	}
	pool, err := pgxpool.New(ctx, cfg.PGDSN)
	if err != nil {
		return res, fmt.Errorf("bench: connecting to postgres: %w", err)
	}
	defer pool.Close()

	next := 1
	// Warm-up: 3 s at the first rate, not counted.
	warm := cfg
	warm.Step = 3 * time.Second
	if _, next, err = run.step(ctx, pool, warm, cfg.Rates[0], next); err != nil {
		return res, err
	}
	for _, rate := range cfg.Rates {
		var st E2EStep
		st, next, err = run.step(ctx, pool, cfg, rate, next)
		if err != nil {
			return res, err
		}
		res.Steps = append(res.Steps, st)
		cfg.Logger.Info("e2e step", "rate", rate, "achieved", st.Achieved, "p50", st.P50, "p99", st.P99, "sustained", st.Sustained)
		if !st.Sustained {
			break
		}
	}
	// The ceiling: unpaced for 5 s (or ceilingRows rows), pipeline running.
	start := time.Now()
	n, err := run.insertUnpaced(ctx, pool, next, min(ceilingRows, len(run.committed)-next), 5*time.Second)
	if err != nil {
		return res, err
	}
	res.InsertCeiling = float64(n) / time.Since(start).Seconds()
	return res, nil
}

// floorProbe times 200 SETs of <prefix>floor by this client to their
// notification.
func (r *e2eRun) floorProbe(ctx context.Context, rdb *goredis.Client) (p50, p99 time.Duration, err error) {
	key := r.cfg.KeyPrefix + "floor"
	defer rdb.Del(context.WithoutCancel(ctx), key)
	var lat []time.Duration
	for range 200 {
		t0 := time.Now()
		if err := rdb.Set(ctx, key, "x", 0).Err(); err != nil {
			return 0, 0, fmt.Errorf("bench: floor probe: %w", err)
		}
		select {
		case at := <-r.floor:
			lat = append(lat, at.Sub(t0))
		case <-time.After(5 * time.Second):
			return 0, 0, errors.New("bench: no keyspace notification within 5 s (notify-keyspace-events not honoured?)")
		case <-ctx.Done():
			return 0, 0, ctx.Err()
		}
	}
	slices.Sort(lat)
	return percentile(lat, 0.50), percentile(lat, 0.99), nil
}

// waitKey waits until row id's key exists in Redis.
func (r *e2eRun) waitKey(ctx context.Context, rdb *goredis.Client, id int, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	for {
		n, err := rdb.Exists(ctx, r.cfg.KeyPrefix+strconv.Itoa(id)).Result()
		if err == nil && n == 1 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("bench: row %d never reached Redis at %s%d within %s (is the pipeline running?)", id, r.cfg.KeyPrefix, id, limit)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// insert commits rows [lo, hi) in one multi-row INSERT and records their
// commit time.
func (r *e2eRun) insert(ctx context.Context, pool *pgxpool.Pool, lo, hi int) error {
	t := pgx.Identifier{r.cfg.Table}.Sanitize()
	_, err := pool.Exec(ctx, fmt.Sprintf("INSERT INTO %s SELECT g, repeat('x', %d) FROM generate_series($1::bigint, $2::bigint) g", t, r.cfg.PadSize), lo, hi-1)
	if err != nil {
		return fmt.Errorf("bench: inserting rows %d..%d: %w", lo, hi-1, err)
	}
	now := time.Now().UnixNano()
	for id := lo; id < hi; id++ {
		r.committed[id].Store(now)
	}
	r.nCommit.Add(int64(hi - lo))
	return nil
}

type idRange struct{ lo, hi int }

// step offers rate rows/s for cfg.Step from id next (open loop: the pacer
// never waits for the workers; batches queue), waits up to 10 s for every
// row to become visible, and returns the figures and the next free id.
func (r *e2eRun) step(ctx context.Context, pool *pgxpool.Pool, cfg E2EConfig, rate, next int) (E2EStep, int, error) {
	st := E2EStep{Rate: rate}
	first := next
	batches := make(chan idRange, 1<<16)
	var werr atomic.Pointer[error]
	var wg sync.WaitGroup
	for range cfg.Workers {
		wg.Go(func() {
			for b := range batches {
				if werr.Load() != nil {
					continue
				}
				if err := r.insert(ctx, pool, b.lo, b.hi); err != nil {
					werr.Store(&err)
				}
			}
		})
	}
	// Backlog sampler, owned by this step.
	stopSample := make(chan struct{})
	var sampler sync.WaitGroup
	var maxBacklog atomic.Int64
	sampler.Go(func() {
		t := time.NewTicker(7 * time.Millisecond) // not a divisor of the pacer's tick: samples fall at every phase
		defer t.Stop()
		for {
			select {
			case <-stopSample:
				return
			case <-t.C:
				if b := r.nCommit.Load() - r.nVisible.Load(); b > maxBacklog.Load() {
					maxBacklog.Store(b)
				}
			}
		}
	})
	start := time.Now()
	tick := time.NewTicker(cfg.Tick)
	owed := 0.0
	limit := len(r.committed)
pace:
	for {
		select {
		case <-ctx.Done():
			break pace
		case now := <-tick.C:
			el := now.Sub(start)
			if el >= cfg.Step {
				break pace
			}
			owed = float64(rate)*el.Seconds() - float64(next-first)
			n := int(owed)
			if n <= 0 {
				continue
			}
			if next+n > limit {
				n = limit - next
			}
			if n <= 0 {
				break pace
			}
			select {
			case batches <- idRange{next, next + n}:
				next += n
			default: // the queue is full: the workers cannot keep up
			}
		}
	}
	tick.Stop()
	close(batches)
	wg.Wait()
	commitEnd := time.Now()
	if err := werr.Load(); err != nil {
		close(stopSample)
		sampler.Wait()
		return st, next, *err
	}
	if err := ctx.Err(); err != nil {
		close(stopSample)
		sampler.Wait()
		return st, next, err
	}
	st.Rows = next - first
	st.Achieved = float64(st.Rows) / commitEnd.Sub(start).Seconds()
	// Drain: every row of the step visible, or 10 s.
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if r.countVisible(first, next) == st.Rows {
			break
		}
	}
	close(stopSample)
	sampler.Wait()
	st.MaxBacklog = int(maxBacklog.Load())
	lat := make([]time.Duration, 0, st.Rows)
	for id := first; id < next; id++ {
		c, v := r.committed[id].Load(), r.visible[id].Load()
		if v != 0 {
			// A notification can beat the commit-time store by a hair (the
			// INSERT returned, the row streamed, before Store ran): 0.
			lat = append(lat, time.Duration(max(v-c, 0)))
		}
	}
	st.Visible = len(lat)
	slices.Sort(lat)
	st.P50, st.P99 = percentile(lat, 0.50), percentile(lat, 0.99)
	if len(lat) > 0 {
		st.Max = lat[len(lat)-1]
	}
	switch {
	case st.Achieved < 0.95*float64(rate):
		st.Why = fmt.Sprintf("the database took only %.0f rows/s", st.Achieved)
	case st.Visible < st.Rows:
		st.Why = fmt.Sprintf("%d of %d rows not in Redis 10 s after the step", st.Rows-st.Visible, st.Rows)
	case st.P99 > cfg.MaxP99:
		st.Why = fmt.Sprintf("p99 %s > %s (lag grew)", st.P99.Round(time.Millisecond), cfg.MaxP99)
	default:
		st.Sustained = true
	}
	return st, next, nil
}

func (r *e2eRun) countVisible(lo, hi int) int {
	n := 0
	for id := lo; id < hi; id++ {
		if r.visible[id].Load() != 0 {
			n++
		}
	}
	return n
}

// insertUnpaced commits up to n rows from id next as fast as the workers
// can, for at most d; it returns how many it committed.
func (r *e2eRun) insertUnpaced(ctx context.Context, pool *pgxpool.Pool, next, n int, d time.Duration) (int, error) {
	const per = 500
	var claimed, done atomic.Int64
	deadline := time.Now().Add(d)
	var werr atomic.Pointer[error]
	var wg sync.WaitGroup
	for range r.cfg.Workers {
		wg.Go(func() {
			for time.Now().Before(deadline) && ctx.Err() == nil && werr.Load() == nil {
				lo := claimed.Add(per) - per
				if lo+per > int64(n) {
					return
				}
				if err := r.insert(ctx, pool, next+int(lo), next+int(lo)+per); err != nil {
					werr.Store(&err)
					return
				}
				done.Add(per)
			}
		})
	}
	wg.Wait()
	if err := werr.Load(); err != nil {
		return int(done.Load()), *err
	}
	return int(done.Load()), ctx.Err()
}

// percentile of sorted durations (0 for none), nearest rank.
func percentile(sorted []time.Duration, q float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(q*float64(len(sorted)) + 0.5)
	return sorted[min(max(i-1, 0), len(sorted)-1)]
}
