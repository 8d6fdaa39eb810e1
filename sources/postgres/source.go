package postgres

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pglogrepl"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/sluicehq/sluice/connectors"
	"github.com/sluicehq/sluice/outbox/router"
)

var (
	_ connectors.Source             = (*Source)(nil)
	_ connectors.TopicDeclarer      = (*Source)(nil)
	_ connectors.Checker            = (*Source)(nil)
	_ connectors.PositionValuer     = (*Source)(nil)
	_ connectors.SnapshotProgresser = (*Source)(nil)
)

// Source captures the configured tables of one Postgres database. See the
// package doc for ownership and invariants, DESIGN.md for the goroutines.
//
// Open, Read, Ack and Close follow connectors.Source: Read from one
// goroutine, Ack possibly concurrently with a blocked Read. Progress,
// SnapshotProgress, Check, TopicSpec and PositionValue are safe at any time.
type Source struct {
	cfg  Config
	log  *slog.Logger
	m    *metrics
	enc  encoder
	q    *queue
	prog progress

	pool   *pgxpool.Pool
	types  *typeCache
	tables []*table
	byName map[string]*table
	obx    *table // the outbox table (table mode; set by Open), else nil

	acked atomic.Uint64 // flush LSN acknowledged (0: none yet)
	wake  wakeup        // nudges the stream to send a status update

	// Outbox cleanup (OutboxCleanup; nil otherwise, set by Open): the
	// stream Adds routed ids at their transaction's commit LSN; Ack stores
	// the acknowledged bound in cleanTo and signals cleanKick; the cleanup
	// goroutine DELETEs on cleanPool, its own connection.
	cleaner   *router.Cleaner
	cleanPool *pgxpool.Pool
	cleanTo   atomic.Uint64
	cleanKick chan struct{}

	mu      sync.Mutex
	opened  bool
	closed  bool
	cancel  context.CancelFunc
	wg      sync.WaitGroup
	started time.Time
}

// New validates cfg (after applying defaults) and returns an unopened Source.
func New(cfg Config, opts ...Option) (*Source, error) {
	cfg.Defaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	o := options{}
	for _, opt := range opts {
		opt(&o)
	}
	if o.log == nil {
		o.log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	s := &Source{
		cfg: cfg,
		log: o.log.With("pipeline", cfg.Pipeline, "source", "postgres"),
		m:   newMetrics(o.reg, cfg.Pipeline),
		enc: encoder{prefix: cfg.TopicPrefix},
		q:   newQueue(cfg.QueueSize),
	}
	return s, nil
}

// TopicSpec declares changelog topics compacted (keyless tables: not
// compacted, since compaction needs keys) with the configured partitions.
// With an outbox, every other topic is an event topic: the router's spec
// (not compacted).
func (s *Source) TopicSpec(topic string) connectors.TopicSpec {
	if rt := s.cfg.Outbox; rt != nil && !slices.Contains(s.Topics(), topic) {
		return rt.TopicSpec(topic)
	}
	spec := connectors.TopicSpec{Name: topic, Partitions: s.cfg.Partitions, ReplicationFactor: s.cfg.ReplicationFactor,
		Configs: map[string]string{"cleanup.policy": "compact"}}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, t := range s.tables {
		if t.topic == topic && t.key == nil {
			spec.Configs["cleanup.policy"] = "delete"
		}
	}
	return spec
}

// messageOutbox reports whether outbox events come as logical decoding
// messages (an outbox without a table).
func (s *Source) messageOutbox() bool {
	return s.cfg.Outbox != nil && s.cfg.Outbox.Table() == ""
}

// Topics returns the changelog topic of every configured table, in Tables
// order (topic names do not need a connection).
func (s *Source) Topics() []string {
	out := make([]string, len(s.cfg.Tables))
	for i, t := range s.cfg.Tables {
		schema, name := splitTable(t)
		out[i] = s.cfg.TopicPrefix + "." + schema + "." + name
	}
	return out
}

// PositionValue is the flush LSN of p, for the checkpoint gauge.
func (s *Source) PositionValue(p connectors.Position) (float64, bool) {
	pos, err := decodePosition(p)
	if err != nil || pos == nil {
		return 0, false
	}
	return float64(pos.Flush), true
}

// Check pings the database.
func (s *Source) Check(ctx context.Context) error {
	s.mu.Lock()
	pool := s.pool
	s.mu.Unlock()
	if pool == nil {
		return ErrClosed
	}
	return pool.Ping(ctx)
}

// Open connects, checks prerequisites, sets up the publication and slot and
// starts the snapshot and/or stream from `from` (nil: per the snapshot
// mode). ctx bounds only the opening; the goroutines live until Close.
func (s *Source) Open(ctx context.Context, from connectors.Position) (err error) {
	s.mu.Lock()
	if s.opened {
		s.mu.Unlock()
		return fmt.Errorf("postgres: Open called twice")
	}
	s.opened = true
	s.mu.Unlock()
	pos, err := decodePosition(from)
	if err != nil {
		return err
	}
	pool, err := newPool(ctx, s.cfg.DSN, s.cfg.SnapshotWorkers)
	if err != nil {
		return fmt.Errorf("connecting: %w", err)
	}
	defer func() {
		if err != nil {
			pool.Close()
		}
	}()
	types := newTypeCache(pool, s.log)
	if err := types.load(ctx); err != nil {
		return err
	}
	needSlot := s.cfg.Snapshot != SnapshotInitialOnly
	if err := pool.QueryRow(ctx, "SELECT current_database()").Scan(&s.enc.db); err != nil {
		return fmt.Errorf("reading database name: %w", err)
	}
	// Report every missing prerequisite at once.
	errPre := checkPrerequisites(ctx, pool, needSlot, s.cfg.Slot)
	tables, err := loadTables(ctx, pool, &s.cfg, types)
	obx, errObx := loadOutboxTable(ctx, pool, &s.cfg)
	if err := errors.Join(errPre, err, errObx); err != nil {
		return err
	}
	if obx != nil && s.cfg.OutboxCleanup {
		c, cp, errC := newCleaner(&s.cfg, obx)
		if errC != nil {
			return errC
		}
		defer func() {
			if err != nil {
				cp.Close()
			}
		}()
		s.mu.Lock()
		s.cleaner, s.cleanPool, s.cleanKick = c, cp, make(chan struct{}, 1)
		s.mu.Unlock()
		s.checkCleanable(ctx, pool, obx)
	}
	if needSlot {
		// Tables the publication does not hold yet have never been
		// streamed: with a position, they are snapshotted like unfinished ones.
		if pos != nil && !s.cfg.UseExistingPublication && s.cfg.Snapshot != SnapshotNever {
			added, err := newTables(ctx, pool, s.cfg.Publication, tables)
			if err != nil {
				return err
			}
			if len(added) > 0 {
				cp := *pos
				cp.Pending = maps.Clone(pos.Pending)
				if cp.Pending == nil {
					cp.Pending = map[string]*tableProgress{}
				}
				for _, name := range added {
					cp.Pending[name] = &tableProgress{}
				}
				pos = &cp
				s.log.Info("tables added to the pipeline will be snapshotted", "tables", added)
			}
		}
		// The outbox table is published (its inserts are the events) but
		// never snapshotted, so it is not among the tables above.
		published := tables
		if obx != nil {
			published = append(slices.Clip(tables), obx)
		}
		if err := ensurePublication(ctx, pool, &s.cfg, published, s.log); err != nil {
			return err
		}
	}
	s.enc.prepare()
	for _, t := range tables {
		t.prepare()
	}
	s.mu.Lock()
	s.pool, s.types, s.tables, s.obx = pool, types, tables, obx
	s.byName = map[string]*table{}
	for _, t := range tables {
		s.byName[t.fullName()] = t
	}
	s.started = time.Now()
	s.mu.Unlock()

	p, err := s.plan(ctx, pos)
	if err != nil {
		return err
	}
	runCtx, cancel := context.WithCancel(context.Background())
	s.mu.Lock()
	s.cancel = cancel
	s.mu.Unlock()
	s.wg.Add(1)
	go func() { // owned by s.wg; exits when the plan ends or Close cancels runCtx
		defer s.wg.Done()
		if err := s.run(runCtx, p); err != nil {
			if runCtx.Err() != nil {
				err = ErrClosed // Close, not the caller's ctx: never report context.Canceled
			} else {
				s.log.Debug("source stopped", "err", err) // Read returns it; the runtime logs it
			}
			s.q.fail(err)
		}
	}()
	if needSlot {
		s.wg.Add(1)
		go func() { // owned by s.wg; exits on Close
			defer s.wg.Done()
			s.monitor(runCtx)
		}()
	}
	if s.cleaner != nil {
		s.wg.Add(1)
		go func() { // owned by s.wg; exits on Close
			defer s.wg.Done()
			s.clean(runCtx)
		}()
	}
	return nil
}

// Read returns the next batch: snapshot rows, streamed changes, or an
// empty batch whose Position only moves the slot on. It blocks until one is
// ready and returns ctx.Err() when ctx is cancelled; any other error ends
// the run (the runtime reopens from the last acked Position).
func (s *Source) Read(ctx context.Context) (connectors.Batch, error) {
	b, err := s.q.take(ctx, s.cfg.MaxBatch)
	if err == nil {
		s.m.read.Add(float64(len(b.Records)))
	}
	return b, err
}

// Ack records that everything up to upTo is durable downstream; the stream
// goroutine confirms its flush LSN on the slot at its next status update
// (promptly: Ack wakes it).
func (s *Source) Ack(_ context.Context, upTo connectors.Position) error {
	pos, err := decodePosition(upTo)
	if err != nil {
		return err
	}
	if pos == nil {
		return nil
	}
	// Invariant: ack after durable write. upTo is a Position this source
	// emitted and the runtime acknowledged as durable; only its flush LSN
	// (never more) becomes the slot's confirmed flush LSN.
	for {
		cur := s.acked.Load()
		if pos.Flush <= cur || s.acked.CompareAndSwap(cur, pos.Flush) {
			break
		}
	}
	s.m.checkpoint.Set(float64(s.acked.Load()))
	s.wake.nudge()
	if s.cleaner != nil {
		// Every transaction committed before the bound is durable: its
		// routed rows may go. The DELETE runs on the cleanup goroutine, so
		// a slow or failing one never holds up Ack or the stream.
		if b := cleanBound(pos); b > 0 {
			for {
				cur := s.cleanTo.Load()
				if b <= cur || s.cleanTo.CompareAndSwap(cur, b) {
					break
				}
			}
			select {
			case s.cleanKick <- struct{}{}:
			default:
			}
		}
	}
	return nil
}

// cleanBound is the highest commit LSN whose transaction pos covers whole:
// between transactions (seq 0) every commit record starting before Flush;
// inside the transaction committing at Commit, every earlier one (its own
// routed rows wait for its commit position).
func cleanBound(pos *position) uint64 {
	b := pos.Flush
	if pos.Seq > 0 && pos.Commit > b {
		b = pos.Commit
	}
	if b == 0 {
		return 0
	}
	return b - 1
}

// Close stops every goroutine, closes the connections (a temporary
// snapshot slot goes with its connection; the permanent slot stays) and
// waits. ctx is unused: shutdown is bounded by the connections' own close.
func (s *Source) Close(_ context.Context) error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	cancel, pool, cleanPool := s.cancel, s.pool, s.cleanPool
	s.mu.Unlock()
	if cancel != nil {
		cancel()
	}
	s.wg.Wait()
	s.q.fail(ErrClosed)
	if pool != nil {
		pool.Close()
	}
	if cleanPool != nil {
		cleanPool.Close()
	}
	return nil
}

// monitor exports the WAL the slot retains, warns over the threshold, and
// writes heartbeats when configured.
func (s *Source) monitor(ctx context.Context) {
	t := time.NewTicker(s.cfg.SlotCheckInterval)
	defer t.Stop()
	var hb <-chan time.Time
	if s.cfg.HeartbeatInterval > 0 {
		h := time.NewTicker(s.cfg.HeartbeatInterval)
		defer h.Stop()
		hb = h.C
	}
	warned := time.Time{}
	for {
		select {
		case <-ctx.Done():
			return
		case <-hb:
			// Non-transactional, so it is WAL without a transaction: the
			// walsender's keepalives move past it and the slot can advance.
			if _, err := s.pool.Exec(ctx, "SELECT pg_logical_emit_message(false, 'sluice_heartbeat', '')"); err != nil && ctx.Err() == nil {
				s.log.Debug("heartbeat failed", "err", err)
			}
			continue
		case <-t.C:
		}
		n, err := s.retainedWAL(ctx)
		if err != nil {
			continue
		}
		s.m.retained.Set(float64(n))
		if s.cfg.WALRetentionWarn > 0 && n > s.cfg.WALRetentionWarn && time.Since(warned) > 10*time.Minute {
			warned = time.Now()
			s.log.Warn("replication slot retains much WAL: is the pipeline acknowledging?", "slot", s.cfg.Slot, "retained_bytes", n, "threshold", s.cfg.WALRetentionWarn)
		}
	}
}

// RetainedWAL returns the WAL bytes the slot keeps (current LSN minus the
// slot's restart_lsn).
func (s *Source) retainedWAL(ctx context.Context) (int64, error) {
	var n *int64
	err := s.pool.QueryRow(ctx, `SELECT (pg_current_wal_lsn() - restart_lsn)::bigint FROM pg_replication_slots WHERE slot_name = $1`, s.cfg.Slot).Scan(&n)
	if err != nil || n == nil {
		return 0, errors.Join(err, errors.New("postgres: slot has no restart_lsn"))
	}
	return *n, nil
}

// wakeup lets Ack interrupt the stream's receive so it confirms promptly.
type wakeup struct {
	mu     sync.Mutex
	cancel context.CancelFunc
}

func (w *wakeup) set(c context.CancelFunc) {
	w.mu.Lock()
	w.cancel = c
	w.mu.Unlock()
}

func (w *wakeup) nudge() {
	w.mu.Lock()
	c := w.cancel
	w.mu.Unlock()
	if c != nil {
		c()
	}
}

func mustLSN(s string) pglogrepl.LSN {
	l, _ := pglogrepl.ParseLSN(s)
	return l
}

func isSlotMissing(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == "42704"
}
