package elasticsearch

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	es8 "github.com/elastic/go-elasticsearch/v8"

	"github.com/sluicehq/sluice/connectors"
)

var (
	_ connectors.Sink      = (*Sink)(nil)
	_ connectors.Rebuilder = (*Sink)(nil)
	_ connectors.Checker   = (*Sink)(nil)
)

// Sink writes change events to Elasticsearch indexes behind aliases. Open,
// Write, Close, BeginRebuild and FinishRebuild are serialised by the sink;
// Check and RebuildProgress may be called from any goroutine.
type Sink struct {
	cfg        Config
	createBody []byte
	log        *slog.Logger
	m          *metrics
	now        func() time.Time
	es         *es8.Client
	transport  *http.Transport // ours to close; nil when Config.Transport was given

	// mu guards everything below; Write holds it for the whole batch, so at
	// most one bulk request of this sink is in flight.
	mu          sync.Mutex
	open        bool
	aliases     map[string]*aliasState
	lastWritten map[topicPartition]int64
	rebuild     *rebuildState

	rebuildDocs atomic.Int64
}

type topicPartition struct {
	topic     string
	partition int32
}

// aliasState is what the sink knows of one alias.
type aliasState struct {
	name string
	// current are the indexes behind the alias (normally one). concrete is
	// true when name is itself a concrete index (adopted; see doc.go).
	current  []string
	concrete bool
	// next is the index a running rebuild fills, "" otherwise.
	next string
	// Write targets, built once: [name], [name, next], [next].
	self, both, nextOnly []string
}

func newAliasState(name string, current []string, concrete bool) *aliasState {
	return &aliasState{name: name, current: current, concrete: concrete, self: []string{name}}
}

// setNext starts (next != "") or ends a rebuild of a.
func (a *aliasState) setNext(next string) {
	a.next, a.both, a.nextOnly = next, nil, nil
	if next != "" {
		a.both, a.nextOnly = []string{a.name, next}, []string{next}
	}
}

// New checks cfg and builds a sink; it connects to nothing.
func New(cfg Config, opts ...Option) (*Sink, error) {
	o := options{now: time.Now}
	for _, f := range opts {
		f(&o)
	}
	if o.log == nil {
		o.log = slog.New(slog.DiscardHandler)
	}
	body, err := cfg.validate()
	if err != nil {
		return nil, err
	}
	cl, tr, err := newClient(&cfg)
	if err != nil {
		return nil, err
	}
	m, err := newMetrics(o.reg, cfg.Pipeline, cfg.Name)
	if err != nil {
		return nil, fmt.Errorf("elasticsearch: registering metrics: %w", err)
	}
	return &Sink{
		cfg: cfg, createBody: body, m: m, now: o.now, es: cl, transport: tr,
		log: o.log.With("pipeline", cfg.Pipeline, "sink", cfg.Name, "index", cfg.Index),
	}, nil
}

// configuredAliases returns the aliases the config names, sorted.
func (s *Sink) configuredAliases() []string {
	var names []string
	if s.cfg.Index != "" {
		names = append(names, s.cfg.Index)
	}
	for _, ix := range s.cfg.Indexes {
		names = append(names, ix)
	}
	for _, t := range s.cfg.Topics {
		names = append(names, s.cfg.aliasName(t))
	}
	slices.Sort(names)
	return slices.Compact(names)
}

// aliasNamesLocked returns the aliases the sink knows, sorted.
func (s *Sink) aliasNamesLocked() []string {
	names := make([]string, 0, len(s.aliases))
	for n := range s.aliases {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// Open makes sure every alias exists: an alias found is used as it is; a
// concrete index with the alias's name is adopted; otherwise
// `<alias>-<timestamp>` is created with the alias in one request. ctx bounds
// only the opening.
func (s *Sink) Open(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	aliases := map[string]*aliasState{}
	for _, name := range s.configuredAliases() {
		a, err := s.ensureAlias(ctx, name)
		if err != nil {
			return fmt.Errorf("opening index %s: %w", name, err)
		}
		aliases[name] = a
	}
	s.aliases, s.open = aliases, true
	s.lastWritten = map[topicPartition]int64{}
	s.log.Info("elasticsearch sink open")
	return nil
}

func (s *Sink) ensureAlias(ctx context.Context, alias string) (*aliasState, error) {
	for attempt := 0; ; attempt++ {
		ixs, err := s.aliasIndexes(ctx, alias)
		if err != nil {
			return nil, err
		}
		if len(ixs) > 0 {
			// Several indexes behind the alias: instances that created one
			// each at the same moment, the higher ones about to leave (see
			// below). Writes go through the alias, so this is only for logs.
			return newAliasState(alias, ixs[:1], false), nil
		}
		exists, err := s.indexExists(ctx, alias)
		if err != nil {
			return nil, err
		}
		if exists {
			s.log.Warn("index is a concrete index, not an alias; writing to it, and the next rebuild replaces it with an alias", "alias", alias)
			return newAliasState(alias, []string{alias}, true), nil
		}
		name := s.newIndexName(alias)
		created, err := s.createIndex(ctx, name, alias)
		if err != nil {
			return nil, err
		}
		if !created && attempt < 3 {
			continue // another instance created it (or the alias) meanwhile: look again
		}
		if created {
			s.log.Info("created index", "alias", alias, "concrete", name)
			// Two instances may have created an index each at once: the
			// alias then covers both. Keep the lowest name, drop ours.
			if ixs, err := s.aliasIndexes(ctx, alias); err == nil && len(ixs) > 1 && ixs[0] != name {
				if err := s.updateAliases(ctx, []aliasAction{{"remove_index": {"index": name}}}); err != nil {
					return nil, err
				}
				return newAliasState(alias, ixs[:1], false), nil
			}
			return newAliasState(alias, []string{name}, false), nil
		}
		return nil, fmt.Errorf("creating index %s: it keeps existing without the alias", name)
	}
}

// newIndexName is `<alias>-<yyyymmddhhmmssSSS>` in UTC.
func (s *Sink) newIndexName(alias string) string {
	t := s.now().UTC()
	return fmt.Sprintf("%s-%s%03d", alias, t.Format("20060102150405"), t.Nanosecond()/int(time.Millisecond))
}

// Close releases the HTTP connections; no Write follows it. A running
// rebuild is abandoned: its index stays, unused behind no alias, until the
// next finished rebuild deletes it.
func (s *Sink) Close(context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.open = false
	if s.transport != nil {
		s.transport.CloseIdleConnections()
	}
	return nil
}

// Check probes /_cluster/health: an error when Elasticsearch does not answer
// or the cluster is red. Safe to call concurrently with Write.
func (s *Sink) Check(ctx context.Context) error {
	_, b, err := s.do(ctx, http.MethodGet, "/_cluster/health", nil)
	if err != nil {
		return fmt.Errorf("elasticsearch: checking health: %w", err)
	}
	var h struct {
		Status string `json:"status"`
	}
	if err := json.Unmarshal(b, &h); err != nil {
		return fmt.Errorf("elasticsearch: decoding health: %w", err)
	}
	if h.Status == "red" {
		return errors.New("elasticsearch: cluster health is red")
	}
	return nil
}
