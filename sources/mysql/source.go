package mysql

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"sync"

	gosql "github.com/go-sql-driver/mysql"

	"github.com/sluicehq/sluice/connectors"
	"github.com/sluicehq/sluice/outbox/router"
	"github.com/sluicehq/sluice/sources/cdc"
)

var (
	_ connectors.Source             = (*Source)(nil)
	_ connectors.TopicDeclarer      = (*Source)(nil)
	_ connectors.Checker            = (*Source)(nil)
	_ connectors.PositionValuer     = (*Source)(nil)
	_ connectors.SnapshotProgresser = (*Source)(nil)
)

// PositionValue is the binlog offset of p within its file, for the
// checkpoint gauge (it resets at each rotation).
func (s *Source) PositionValue(p connectors.Position) (float64, bool) {
	pos, err := decodePosition(p)
	if err != nil || pos == nil {
		return 0, false
	}
	return float64(pos.Pos), true
}

// Source captures the configured tables of one MySQL or MariaDB server.
// See the package doc for ownership and invariants, DESIGN.md for the
// goroutines.
//
// Open, Read, Ack and Close follow connectors.Source: Read from one
// goroutine, Ack possibly concurrently with a blocked Read. Progress, Check
// and TopicSpec are safe at any time.
type Source struct {
	cfg  Config
	dsn  *gosql.Config
	log  *slog.Logger
	m    *metrics
	q    *queue
	prog cdc.Tracker

	mu      sync.Mutex
	cleaner *router.Cleaner // set by Open with OutboxCleanup; Ack uses it
	db      *sql.DB
	opened  bool
	closed  bool
	cancel  context.CancelFunc
	wg      sync.WaitGroup
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
		o.log = slog.New(slog.DiscardHandler)
	}
	dsn, _ := parseDSN(cfg.DSN) // Validate checked it
	dsn.ParseTime = false
	if dsn.Params == nil {
		dsn.Params = map[string]string{}
	}
	dsn.Params["time_zone"] = "'+00:00'" // timestamps as UTC text
	return &Source{
		cfg: cfg,
		dsn: dsn,
		log: o.log.With("pipeline", cfg.Pipeline, "source", "mysql"),
		m:   newMetrics(o.reg, cfg.Pipeline),
		q:   newQueue(cfg.QueueSize),
	}, nil
}

// TopicSpec declares changelog topics compacted with the configured
// partitions.
// With an outbox, every other topic is an event topic: the router's spec
// (not compacted).
func (s *Source) TopicSpec(topic string) connectors.TopicSpec {
	if rt := s.cfg.Outbox; rt != nil && !slices.Contains(s.Topics(), topic) {
		return rt.TopicSpec(topic)
	}
	return connectors.TopicSpec{Name: topic, Partitions: s.cfg.Partitions, ReplicationFactor: s.cfg.ReplicationFactor,
		Configs: map[string]string{"cleanup.policy": "compact"}}
}

// Topics returns the changelog topic of every configured table.
func (s *Source) Topics() []string {
	out := make([]string, len(s.cfg.Tables))
	for i, t := range s.cfg.Tables {
		out[i] = s.cfg.TopicPrefix + "." + t
	}
	return out
}

// Progress reports the snapshot's progress. Safe for concurrent use.
func (s *Source) Progress() cdc.Progress { return s.prog.Snapshot() }

// SnapshotProgress is Progress in the runtime's terms.
func (s *Source) SnapshotProgress() (done, total int64, active bool) {
	p := s.prog.Snapshot()
	return p.RowsDone, p.RowsTotal, p.Active
}

// Check pings the server.
func (s *Source) Check(ctx context.Context) error {
	s.mu.Lock()
	db := s.db
	s.mu.Unlock()
	if db == nil {
		return ErrClosed
	}
	return db.PingContext(ctx)
}

// Open connects, checks the server's settings and grants, loads the
// captured tables' schemas and starts the snapshot and/or binlog stream
// from `from` (nil: per the snapshot mode). ctx bounds only the opening.
func (s *Source) Open(ctx context.Context, from connectors.Position) (err error) {
	s.mu.Lock()
	if s.opened {
		s.mu.Unlock()
		return errors.New("mysql: Open called twice")
	}
	s.opened = true
	s.mu.Unlock()
	pos, err := decodePosition(from)
	if err != nil {
		return err
	}
	conn, err := gosql.NewConnector(s.dsn) // keeps s.dsn.TLS: no global TLS registry
	if err != nil {
		return fmt.Errorf("connecting: %w", err)
	}
	db := sql.OpenDB(conn)
	db.SetMaxIdleConns(s.cfg.SnapshotWorkers + 2)
	defer func() {
		if err != nil {
			_ = db.Close()
		}
	}()
	flavor, err := detectFlavor(ctx, db, s.cfg.Flavor)
	if err != nil {
		return tlsError(err)
	}
	binlogTLS, err := s.binlogTLS(ctx, db)
	if err != nil {
		return err
	}
	if pos != nil && pos.Flavor != flavor {
		return fmt.Errorf("%w: stored for %s, server is %s", ErrPosition, pos.Flavor, flavor)
	}
	if err := checkPrerequisites(ctx, db, s.cfg.Snapshot != SnapshotInitialOnly); err != nil {
		return err
	}
	var meta sql.NullString // absent before MariaDB 10.5 / MySQL 8.0.1
	if err := db.QueryRowContext(ctx, "SELECT @@binlog_row_metadata").Scan(&meta); err == nil && !strings.EqualFold(meta.String, "FULL") {
		s.log.Info("binlog_row_metadata is not FULL: rows written between two DDLs the source has not yet read decode with the later schema or fail; set it to FULL for exact schema history", "binlog_row_metadata", meta.String)
	}
	current := map[string]*tableSchema{}
	var errs []error
	for _, name := range s.cfg.Tables {
		d, t := splitTable(name)
		sc, err := loadSchema(ctx, db, d, t, flavor == FlavorMariaDB)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		current[name] = sc
	}
	if rt := s.cfg.Outbox; rt != nil {
		// The outbox table's columns travel with the position like a
		// captured table's (DDL on it is followed); only its inserts route.
		d, t := splitTable(rt.Table())
		sc, err := loadSchema(ctx, db, d, t, flavor == FlavorMariaDB)
		if err != nil {
			errs = append(errs, fmt.Errorf("outbox table: %w", err))
		} else {
			current[rt.Table()] = sc
		}
		if s.cfg.OutboxCleanup {
			c, err := router.NewCleaner(router.CleanerConfig{Table: rt.Table(), IDColumn: rt.Config().Columns.ID,
				Dialect: router.MySQL, BatchSize: s.cfg.OutboxCleanBatch,
				Exec: func(ctx context.Context, q string, args ...any) error {
					_, err := db.ExecContext(ctx, q, args...)
					return err
				}})
			if err != nil {
				errs = append(errs, err)
			}
			s.mu.Lock()
			s.cleaner = c
			s.mu.Unlock()
		}
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	if pos == nil && s.cfg.Snapshot == SnapshotNever {
		// "Never" streams from now: from Open, not from whenever the run
		// goroutine gets to it.
		p, err := currentPoint(ctx, db, flavor)
		if err != nil {
			return err
		}
		pos = &position{Flavor: flavor, GTID: p.gtid, File: p.file, Pos: p.pos, Schemas: current}
	}
	s.mu.Lock()
	s.db = db
	s.mu.Unlock()
	r := &runner{s: s, db: db, flavor: flavor, current: current, tls: binlogTLS}
	runCtx, cancel := context.WithCancel(context.Background())
	s.mu.Lock()
	s.cancel = cancel
	s.mu.Unlock()
	s.wg.Add(1)
	go func() { // owned by s.wg; exits when the run ends or Close cancels runCtx
		defer s.wg.Done()
		err := r.run(runCtx, pos)
		if runCtx.Err() != nil {
			err = ErrClosed
		} else if err != nil {
			s.log.Debug("source stopped", "err", err) // Read returns it; the runtime logs it
		}
		s.q.fail(err)
	}()
	s.log.Info("mysql source opened", "flavor", flavor, "tables", s.cfg.Tables, "resume", pos != nil, "tls", binlogTLS != nil)
	return nil
}

// Read returns the next batch: snapshot rows, streamed changes, or an empty
// batch whose Position only moves on. It blocks until one is ready and
// returns ctx.Err() when ctx is cancelled; any other error ends the run.
func (s *Source) Read(ctx context.Context) (connectors.Batch, error) {
	b, err := s.q.take(ctx, s.cfg.MaxBatch)
	if err == nil {
		s.m.read.Add(float64(len(b.Records)))
	}
	return b, err
}

// Ack records that everything up to upTo is durable downstream. A binlog
// reader holds nothing upstream to release: the runtime stores upTo in
// __sluice_offsets, and Open resumes from it. Ack tracks it (metrics) and,
// with OutboxCleanup, deletes the outbox rows routed up to it.
func (s *Source) Ack(ctx context.Context, upTo connectors.Position) error {
	pos, err := decodePosition(upTo)
	if err != nil || pos == nil {
		return err
	}
	// Invariant: ack after durable write. upTo is a Position this source
	// emitted at a transaction boundary and the runtime acknowledged as
	// durable; nothing here moves past it.
	s.m.checkpoint.Set(float64(pos.Pos))
	s.mu.Lock()
	c := s.cleaner
	s.mu.Unlock()
	if c != nil {
		// Everything up to upTo is durable: the outbox rows routed up to
		// there may go. A failed DELETE only delays the cleanup (the ids
		// stay pending); it never fails the pipeline.
		if err := c.Ack(ctx, binlogSeq(pos.File, pos.Pos)); err != nil {
			s.log.Warn("outbox cleanup failed; retried at the next ack", "err", err, "pending", c.Pending())
		}
	}
	return nil
}

// binlogSeq orders binlog coordinates as one number (file index, offset),
// for the outbox cleaner: the index is the file name's numeric extension.
func binlogSeq(file string, pos uint32) uint64 {
	i := strings.LastIndexByte(file, '.')
	n, _ := strconv.ParseUint(file[i+1:], 10, 32)
	return n<<32 | uint64(pos)
}

// Close stops the run goroutine, closes the connections and waits. ctx is
// unused: shutdown is bounded by the connections' own close.
func (s *Source) Close(_ context.Context) error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	cancel, db := s.cancel, s.db
	s.mu.Unlock()
	if cancel != nil {
		cancel()
	}
	s.wg.Wait()
	s.q.fail(ErrClosed)
	if db != nil {
		return db.Close()
	}
	return nil
}

func detectFlavor(ctx context.Context, db *sql.DB, configured string) (string, error) {
	var v string
	if err := db.QueryRowContext(ctx, "SELECT VERSION()").Scan(&v); err != nil {
		return "", fmt.Errorf("connecting: %w", err)
	}
	got := FlavorMySQL
	if strings.Contains(strings.ToLower(v), "mariadb") {
		got = FlavorMariaDB
	}
	if configured != "" && configured != got {
		return "", fmt.Errorf("%w: flavor: configured %s, server %q is %s", ErrConfig, configured, v, got)
	}
	return got, nil
}

// checkPrerequisites reports every missing setting or grant at once.
func checkPrerequisites(ctx context.Context, db *sql.DB, binlog bool) error {
	var errs []error
	if binlog {
		var logBin, format, image sql.NullString
		if err := db.QueryRowContext(ctx, "SELECT @@log_bin, @@binlog_format, @@binlog_row_image").Scan(&logBin, &format, &image); err != nil {
			return fmt.Errorf("reading binlog settings: %w", err)
		}
		if logBin.String != "1" && !strings.EqualFold(logBin.String, "ON") {
			errs = append(errs, fmt.Errorf("%w: log_bin is %s (start the server with --log-bin)", ErrPrerequisite, logBin.String))
		}
		if !strings.EqualFold(format.String, "ROW") {
			errs = append(errs, fmt.Errorf("%w: binlog_format is %s, need ROW", ErrPrerequisite, format.String))
		}
		if !strings.EqualFold(image.String, "FULL") {
			errs = append(errs, fmt.Errorf("%w: binlog_row_image is %s, need FULL", ErrPrerequisite, image.String))
		}
	}
	rows, err := db.QueryContext(ctx, "SHOW GRANTS")
	if err != nil {
		return errors.Join(append(errs, fmt.Errorf("reading grants: %w", err))...)
	}
	defer rows.Close()
	var all strings.Builder
	for rows.Next() {
		var g string
		if err := rows.Scan(&g); err != nil {
			return err
		}
		all.WriteString(strings.ToUpper(g))
		all.WriteByte('\n')
	}
	if err := rows.Err(); err != nil {
		return err
	}
	g := all.String()
	has := func(privs ...string) bool {
		if strings.Contains(g, "ALL PRIVILEGES ON *.*") {
			return true
		}
		for _, p := range privs {
			if strings.Contains(g, p) {
				return true
			}
		}
		return false
	}
	if binlog && !has("REPLICATION SLAVE", "REPLICATION REPLICA") {
		errs = append(errs, fmt.Errorf("%w: the user lacks the REPLICATION SLAVE grant", ErrPrerequisite))
	}
	if binlog && !has("REPLICATION CLIENT", "BINLOG MONITOR", "SUPER") {
		errs = append(errs, fmt.Errorf("%w: the user lacks the REPLICATION CLIENT grant", ErrPrerequisite))
	}
	return errors.Join(errs...)
}

// segment is a run of records and the position reached after them.
type segment struct {
	recs []connectors.Record
	pos  connectors.Position
}

// queue hands segments from the run goroutine to Read.
type queue struct {
	ch   chan segment
	done chan struct{}
	once sync.Once
	err  error // set before done is closed
}

func newQueue(n int) *queue { return &queue{ch: make(chan segment, n), done: make(chan struct{})} }

func (q *queue) push(ctx context.Context, seg segment) error {
	select {
	case q.ch <- seg:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (q *queue) fail(err error) {
	q.once.Do(func() {
		if err == nil {
			err = ErrClosed
		}
		q.err = err
		close(q.done)
	})
}

// take waits for a segment, then adds whatever else is queued up to max
// records; the batch's position is its last segment's.
func (q *queue) take(ctx context.Context, max int) (connectors.Batch, error) {
	var first segment
	select {
	case first = <-q.ch:
	case <-ctx.Done():
		return connectors.Batch{}, ctx.Err()
	case <-q.done:
		select {
		case first = <-q.ch: // segments queued before the failure come first
		default:
			return connectors.Batch{}, q.err
		}
	}
	b := connectors.Batch{Records: first.recs, Position: first.pos}
	for len(b.Records) < max {
		select {
		case seg := <-q.ch:
			b.Records = append(b.Records, seg.recs...)
			b.Position = seg.pos
			continue
		default:
		}
		break
	}
	return b, nil
}

// binlogTLS is the TLS config of the binlog connection: the DSN's, so the
// replication stream is encrypted exactly when the snapshot connections
// are. With tls=preferred it follows what the pool's session negotiated
// (go-mysql's client has no plaintext fallback of its own).
func (s *Source) binlogTLS(ctx context.Context, db *sql.DB) (*tls.Config, error) {
	if s.dsn.TLS == nil {
		return nil, nil
	}
	if s.dsn.AllowFallbackToPlaintext {
		var name, cipher string
		if err := db.QueryRowContext(ctx, "SHOW SESSION STATUS LIKE 'Ssl_cipher'").Scan(&name, &cipher); err != nil {
			return nil, fmt.Errorf("reading the session's TLS state: %w", err)
		}
		if cipher == "" {
			s.log.Warn("tls=preferred: the server offers no TLS; the binlog stream is plaintext too")
			return nil, nil
		}
	}
	return s.dsn.TLS.Clone(), nil
}

// tlsError names a TLS handshake failure as such (the driver's message
// alone reads like any connection error).
func tlsError(err error) error {
	var unknown x509.UnknownAuthorityError
	var verify *tls.CertificateVerificationError
	var host x509.HostnameError
	var inval x509.CertificateInvalidError
	var rec tls.RecordHeaderError
	switch {
	case errors.As(err, &unknown), errors.As(err, &verify):
		return fmt.Errorf("%w: the server's certificate is not trusted (check ca_file): %v", ErrTLS, err)
	case errors.As(err, &host):
		return fmt.Errorf("%w: the server's certificate does not name the DSN's host: %v", ErrTLS, err)
	case errors.As(err, &inval):
		return fmt.Errorf("%w: the server's certificate is invalid: %v", ErrTLS, err)
	case errors.As(err, &rec):
		return fmt.Errorf("%w: the server did not answer TLS: %v", ErrTLS, err)
	case strings.Contains(err.Error(), "TLS requested but server does not support TLS"),
		strings.Contains(err.Error(), "server does not support TLS"):
		return fmt.Errorf("%w: TLS requested but the server does not support it: %v", ErrTLS, err)
	}
	return err
}
