package redis

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"sync"

	goredis "github.com/redis/go-redis/v9"

	"github.com/sluicehq/sluice/connectors"
)

var (
	_ connectors.Sink      = (*Sink)(nil)
	_ connectors.Rebuilder = (*Sink)(nil)
	_ connectors.Checker   = (*Sink)(nil)
)

// Sink writes change events to Redis. See the package doc for the key and
// mode contract.
//
// Write, BeginRebuild, FinishRebuild, RebuildProgress and Check are safe to
// call concurrently; the runtime calls Write from one goroutine.
type Sink struct {
	cfg     Config
	tmpl    *Template // nil: the default template
	log     *slog.Logger
	metrics *metrics
	tlsCfg  *tls.Config

	// cmu guards client and cluster for Check, which must not wait for a
	// running Write; writers of the fields hold mu too (lock order mu, cmu).
	cmu     sync.Mutex
	client  goredis.UniversalClient // nil before Open and after Close
	cluster *goredis.ClusterClient  // set when client is a cluster client

	// mu serializes Write with itself and with each page of a rebuild
	// sweep, so a key a Write creates is never deleted as stale.
	mu      sync.Mutex
	tables  map[string]struct{} // tables seen (default template: sweep prefixes)
	names   map[string]string   // interned table names (scan.go)
	rebuild *rebuildState       // non-nil while a rebuild runs
	swept   int64               // keys deleted by the last (or running) FinishRebuild
}

// New validates cfg and returns a sink; it connects to nothing (Open does).
// Errors wrap ErrConfig and name every bad field.
func New(cfg Config, opts ...Option) (*Sink, error) {
	o := options{}
	for _, opt := range opts {
		opt(&o)
	}
	if o.log == nil {
		o.log = slog.New(slog.DiscardHandler)
	}
	cfg.Addrs = slices.Clone(cfg.Addrs)
	cfg.Topics = slices.Clone(cfg.Topics)
	tmpl, err := cfg.validate()
	if err != nil {
		return nil, err
	}
	tc, err := cfg.TLS.build()
	if err != nil {
		return nil, err
	}
	m, err := newMetrics(o.reg, cfg.Pipeline, cfg.Name)
	if err != nil {
		return nil, fmt.Errorf("redis: registering metrics: %w", err)
	}
	s := &Sink{
		cfg:     cfg,
		tmpl:    tmpl,
		log:     o.log.With("pipeline", cfg.Pipeline, "sink", cfg.Name, "sink_type", "redis"),
		metrics: m,
		tlsCfg:  tc,
		tables:  map[string]struct{}{},
		names:   map[string]string{},
	}
	for _, t := range cfg.Topics {
		s.tables[topicTable(t)] = struct{}{}
	}
	return s, nil
}

// Open connects and pings Redis (every master, for a cluster); ctx bounds
// only that, not the connection's lifetime.
func (s *Sink) Open(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.client != nil {
		return nil
	}
	c := s.newClient()
	if err := ping(ctx, c); err != nil {
		_ = c.Close()
		return fmt.Errorf("redis: opening: %w", err)
	}
	cluster, _ := c.(*goredis.ClusterClient)
	s.setClient(c, cluster)
	if err := s.loadScripts(ctx); err != nil {
		_ = c.Close()
		s.setClient(nil, nil)
		return fmt.Errorf("redis: opening: %w", err)
	}
	s.log.Info("redis sink opened", "addr", s.addrString(), "mode", s.cfg.Mode, "key", s.keyString())
	return nil
}

func ping(ctx context.Context, c goredis.UniversalClient) error {
	if cc, ok := c.(*goredis.ClusterClient); ok {
		return cc.ForEachShard(ctx, func(ctx context.Context, n *goredis.Client) error {
			return n.Ping(ctx).Err()
		})
	}
	return c.Ping(ctx).Err()
}

func (s *Sink) newClient() goredis.UniversalClient {
	if len(s.cfg.Addrs) > 0 {
		return goredis.NewClusterClient(&goredis.ClusterOptions{
			Addrs:           s.cfg.Addrs,
			Username:        s.cfg.Username,
			Password:        s.cfg.Password,
			TLSConfig:       s.tlsCfg,
			MaxRetries:      2,
			DisableIdentity: true,
		})
	}
	return goredis.NewClient(&goredis.Options{
		Addr:            s.cfg.Addr,
		Username:        s.cfg.Username,
		Password:        s.cfg.Password,
		DB:              s.cfg.DB,
		TLSConfig:       s.tlsCfg,
		MaxRetries:      2,
		DisableIdentity: true,
	})
}

func (s *Sink) addrString() string {
	if s.cfg.Addr != "" {
		return s.cfg.Addr
	}
	return fmt.Sprint(s.cfg.Addrs)
}

func (s *Sink) keyString() string {
	if s.tmpl != nil {
		return s.tmpl.String()
	}
	return s.cfg.Pipeline + ":<table>:{key columns}"
}

// Close releases the connections; no Write follows it.
func (s *Sink) Close(context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.client == nil {
		return nil
	}
	err := s.client.Close()
	s.setClient(nil, nil)
	if err != nil {
		return fmt.Errorf("redis: closing: %w", err)
	}
	return nil
}

func (s *Sink) setClient(c goredis.UniversalClient, cluster *goredis.ClusterClient) {
	s.cmu.Lock()
	s.client, s.cluster = c, cluster
	s.cmu.Unlock()
}

// Check pings Redis (every master of a cluster); it does not wait for a
// running Write.
func (s *Sink) Check(ctx context.Context) error {
	s.cmu.Lock()
	c := s.client
	s.cmu.Unlock()
	if c == nil {
		return ErrNotOpen
	}
	if err := ping(ctx, c); err != nil {
		return fmt.Errorf("redis: checking: %w", err)
	}
	return nil
}

// Write applies b in order: upserts (SET or the hash script), deletes and
// truncates, pipelined. It returns once Redis acknowledged every command.
//
// Records that are no valid change event, and commands Redis refuses for
// that key alone (WRONGTYPE), are reported in a *connectors.BatchError;
// everything else in b was applied. Any other error (Redis unreachable,
// loading, read-only, cluster down, ctx done) means b must be retried
// whole; every command is idempotent, so a retry converges to the same
// state.
func (s *Sink) Write(ctx context.Context, b connectors.Batch) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.client == nil {
		return ErrNotOpen
	}
	recs := b.Records
	var (
		bad     []connectors.RecordError
		planned [][]op
		res     execResult
	)
	if len(recs) <= chunkSize {
		ops, rej := s.plan(recs, 0)
		bad, planned = rej, [][]op{ops}
		res.rej, res.err = s.execute(ctx, ops)
	} else {
		// Decode chunk i+1 while Redis applies chunk i. One executor
		// applies the chunks in order, each after the previous one was
		// acknowledged, so per-key order holds.
		chunks := make(chan []op, 1)
		done := make(chan execResult, 1)
		go func() { // owned by this Write: ends when chunks is closed
			var r execResult
			for ops := range chunks {
				if r.err != nil {
					continue // drain; the batch fails as a whole
				}
				var rej []connectors.RecordError
				rej, r.err = s.execute(ctx, ops)
				r.rej = append(r.rej, rej...)
			}
			done <- r
		}()
		for i := 0; i < len(recs); i += chunkSize {
			ops, rej := s.plan(recs[i:min(i+chunkSize, len(recs))], i)
			bad = append(bad, rej...)
			planned = append(planned, ops)
			chunks <- ops
		}
		close(chunks)
		res = <-done
	}
	if res.err != nil {
		s.metrics.connErrors.Inc()
		return fmt.Errorf("redis: writing batch of %d: %w", len(recs), res.err)
	}
	bad = append(bad, res.rej...)
	if s.rebuild != nil {
		for _, ops := range planned {
			for i := range ops {
				if ops[i].kind == opSet || ops[i].kind == opHash {
					s.rebuild.written[ops[i].key] = struct{}{}
				}
			}
		}
		s.metrics.rebuildWritten.Set(float64(len(s.rebuild.written)))
	}
	s.metrics.written.Add(float64(len(recs) - len(bad)))
	if len(bad) > 0 {
		s.metrics.rejected.Add(float64(len(bad)))
		slices.SortFunc(bad, func(a, b connectors.RecordError) int { return a.Index - b.Index })
		return &connectors.BatchError{Failed: bad}
	}
	return nil
}

// chunkSize is how many records Write decodes before handing them to
// Redis: large enough to pipeline well, small enough to overlap decoding
// with Redis' work.
const chunkSize = 512

type execResult struct {
	rej []connectors.RecordError
	err error
}

// execute applies ops in order: pipelines, split around truncates, which
// sweep their prefix once everything before them was acknowledged.
func (s *Sink) execute(ctx context.Context, ops []op) ([]connectors.RecordError, error) {
	var bad []connectors.RecordError
	start := 0
	for i := 0; i <= len(ops); i++ {
		if i < len(ops) && ops[i].kind != opTruncate {
			continue
		}
		rej, err := s.applyRetry(ctx, ops[start:i])
		if err != nil {
			return nil, err
		}
		bad = append(bad, rej...)
		if i < len(ops) {
			n, err := s.sweep(ctx, ops[i].key, nil, false)
			if err != nil {
				return nil, fmt.Errorf("truncating %s*: %w", ops[i].key, err)
			}
			s.metrics.truncated.Add(float64(n))
			s.log.Info("truncate applied", "prefix", ops[i].key, "keys_deleted", n)
		}
		start = i + 1
	}
	return bad, nil
}

// applyRetry applies ops, reloading the hash script once if Redis forgot
// it (restart, SCRIPT FLUSH, failover) and applying them again.
func (s *Sink) applyRetry(ctx context.Context, ops []op) ([]connectors.RecordError, error) {
	if len(ops) == 0 {
		return nil, nil
	}
	rej, err := s.apply(ctx, ops)
	if errors.Is(err, errNoScript) {
		if err := s.loadScripts(ctx); err != nil {
			return nil, err
		}
		rej, err = s.apply(ctx, ops)
	}
	return rej, err
}

var errNoScript = errors.New("redis: script not loaded")

// apply sends ops in one pipeline and waits for every reply.
func (s *Sink) apply(ctx context.Context, ops []op) ([]connectors.RecordError, error) {
	if s.cfg.Mode == ModeString {
		if err := s.resolveToast(ctx, ops); err != nil {
			return nil, err
		}
	}
	pipe := s.client.Pipeline()
	cmds := make([]goredis.Cmder, len(ops))
	ttlMs := strconv.FormatInt(s.cfg.TTL.Milliseconds(), 10)
	for i := range ops {
		o := &ops[i]
		switch o.kind {
		case opSet:
			cmds[i] = pipe.Set(ctx, o.key, o.value, s.cfg.TTL)
		case opHash:
			args := make([]any, 0, 2+len(o.toast)+len(o.fields))
			args = append(args, ttlMs, len(o.toast))
			for _, f := range o.toast {
				args = append(args, f)
			}
			args = append(args, o.fields...)
			cmds[i] = pipe.EvalSha(ctx, hashScriptSHA, []string{o.key}, args...)
		case opDel:
			cmds[i] = pipe.Del(ctx, o.key)
		}
	}
	_, _ = pipe.Exec(ctx) // errors are inspected per command below
	var rej []connectors.RecordError
	noScript := false
	for i, c := range cmds {
		err := c.Err()
		switch {
		case err == nil:
		case goredis.HasErrorPrefix(err, "WRONGTYPE"):
			rej = append(rej, connectors.RecordError{Index: ops[i].idx, Err: fmt.Errorf("%w: key %q: %w", ErrRejected, ops[i].key, err)})
		case goredis.HasErrorPrefix(err, "NOSCRIPT"):
			noScript = true
		default:
			return nil, fmt.Errorf("key %q: %w", ops[i].key, err)
		}
	}
	if noScript {
		return nil, errNoScript
	}
	return rej, nil
}

// resolveToast fills the value of every string-mode upsert that holds
// unchanged-TOAST markers: the marked columns come from the key's value as
// it stands before this op — an earlier op of the same batch, else Redis.
func (s *Sink) resolveToast(ctx context.Context, ops []op) error {
	if !slices.ContainsFunc(ops, func(o op) bool { return o.kind == opSet && o.toast != nil }) {
		return nil // the common case: nothing to merge
	}
	need := map[string]*goredis.StringCmd{}
	touched := map[string]bool{}
	fetch := false
	for i := range ops {
		o := &ops[i]
		if o.kind == opSet && o.toast != nil && !touched[o.key] {
			need[o.key] = nil
			fetch = true
		}
		touched[o.key] = true
	}
	if !fetch {
		return nil
	}
	pipe := s.client.Pipeline()
	for k := range need {
		need[k] = pipe.Get(ctx, k)
	}
	_, _ = pipe.Exec(ctx)
	current := map[string][]byte{} // key -> value before the op at hand; nil = absent
	for k, c := range need {
		v, err := c.Bytes()
		switch {
		case err == nil:
			current[k] = v
		case errors.Is(err, goredis.Nil), goredis.HasErrorPrefix(err, "WRONGTYPE"):
			current[k] = nil
		default:
			return fmt.Errorf("reading %q for unchanged TOAST columns: %w", k, err)
		}
	}
	for i := range ops {
		o := &ops[i]
		switch o.kind {
		case opSet:
			if o.toast != nil {
				v, err := mergeToast(o.after, current[o.key], o.before)
				if err != nil {
					return fmt.Errorf("merging unchanged TOAST columns of %q: %w", o.key, err)
				}
				o.value = v
			}
			current[o.key] = o.value
		case opDel:
			current[o.key] = nil
		}
	}
	return nil
}
