package elasticsearch

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"time"

	"github.com/sluicehq/sluice/connectors"
)

// op is the last operation of one document of a batch.
type op struct {
	rec     int // index into Batch.Records
	alias   *aliasState
	id      string // _id
	source  []byte // _source; nil = delete
	targets []string
}

// item is one bulk action: an op applied to one concrete index.
type item struct {
	op    *op
	index string
}

// Write applies b and returns once Elasticsearch acknowledged every
// document it reports as done (see the package doc for the rules). ctx
// bounds the whole call, retries included.
func (s *Sink) Write(ctx context.Context, b connectors.Batch) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.open {
		return ErrNotOpen
	}
	if err := s.ensureAliasesLocked(ctx, b); err != nil {
		return err
	}
	failed := map[int]error{}
	ops := s.plan(b, failed)
	var items []item
	for _, o := range ops {
		for _, ix := range o.targets {
			items = append(items, item{op: o, index: ix})
		}
	}
	if err := s.sendAll(ctx, items, failed); err != nil {
		return err
	}
	// Only now are the records applied: remember how far each partition
	// got, so that a rebuild can tell replayed records from live ones.
	for i := range b.Records {
		r := &b.Records[i]
		tp := topicPartition{r.Topic, r.Partition}
		if last, ok := s.lastWritten[tp]; !ok || r.Offset > last {
			s.lastWritten[tp] = r.Offset
		}
	}
	if rb := s.rebuild; rb != nil {
		n := int64(0)
		for _, it := range items {
			if it.index == it.op.alias.next && failed[it.op.rec] == nil {
				n++
			}
		}
		s.m.rebuildWritten.Set(float64(s.rebuildDocs.Add(n)))
	}
	s.m.written.Add(float64(len(b.Records) - len(failed)))
	if len(failed) == 0 {
		return nil
	}
	s.m.rejected.Add(float64(len(failed)))
	be := &connectors.BatchError{}
	for i, err := range failed {
		be.Failed = append(be.Failed, connectors.RecordError{Index: i, Err: err})
	}
	sort.Slice(be.Failed, func(i, j int) bool { return be.Failed[i].Index < be.Failed[j].Index })
	return be
}

// plan turns the records into one op per document (the last one wins),
// in the order of their first appearance; records it cannot apply go to
// failed.
func (s *Sink) plan(b connectors.Batch, failed map[int]error) []*op {
	byDoc := make(map[string]*op, len(b.Records))
	ops := make([]*op, 0, len(b.Records))
	for i := range b.Records {
		r := &b.Records[i]
		a := s.aliasFor(r.Topic)
		if s.cfg.Value == ValueDocument {
			o, err := s.planDocument(r, i, a)
			if err != nil {
				failed[i] = err
				continue
			}
			k := a.name + "\x00" + o.id
			if prev, ok := byDoc[k]; ok {
				*prev = *o
				continue
			}
			byDoc[k] = o
			ops = append(ops, o)
			continue
		}
		id, ok := scanKeyID(r.Key)
		if !ok {
			key, err := connectors.ParseRow(r.Key)
			if err != nil || len(key) == 0 {
				failed[i] = fmt.Errorf("%w: key %q is not a JSON object of key columns", ErrRecord, r.Key)
				continue
			}
			id = connectors.KeyID(key)
		}
		if id == "" {
			failed[i] = fmt.Errorf("%w: key %s gives an empty document id", ErrRecord, r.Key)
			continue
		}
		var src []byte
		if r.Value != nil {
			opr, after, ok := scanEnvelope(r.Value)
			if !ok {
				env, err := connectors.DecodeEnvelope(r.Value)
				if err != nil {
					failed[i] = fmt.Errorf("%w: %v", ErrRecord, err)
					continue
				}
				opr, after = env.Op, env.After
			}
			var err error
			switch opr {
			case connectors.OpTruncate:
				s.log.Debug("ignoring truncate event", "topic", r.Topic, "offset", r.Offset)
				continue
			case connectors.OpDelete:
			default:
				if connectors.IsNull(after) {
					failed[i] = fmt.Errorf("%w: op %s without after image", ErrRecord, opr)
					continue
				}
				if src, err = s.project(after); err != nil {
					failed[i] = fmt.Errorf("%w: after image: %v", ErrRecord, err)
					continue
				}
			}
		}
		o := &op{rec: i, alias: a, id: id, source: src, targets: s.targetsFor(a, r)}
		k := a.name + "\x00" + id
		if prev, ok := byDoc[k]; ok {
			*prev = *o // keep the position, take the last operation
			continue
		}
		byDoc[k] = o
		ops = append(ops, o)
	}
	return ops
}

// planDocument is plan for a record whose value is the document itself
// (Config.Value = ValueDocument): index a JSON object value, delete on a
// null value; _id from the key (connectors.DocumentKey).
func (s *Sink) planDocument(r *connectors.Record, i int, a *aliasState) (*op, error) {
	key, err := connectors.ParseRow(connectors.DocumentKey(r.Key))
	if err != nil || len(key) == 0 {
		return nil, fmt.Errorf("%w: key %q gives no document id", ErrRecord, r.Key)
	}
	id := connectors.KeyID(key)
	if id == "" {
		return nil, fmt.Errorf("%w: key %q gives an empty document id", ErrRecord, r.Key)
	}
	var src []byte
	if r.Value != nil {
		doc := bytes.TrimSpace(r.Value)
		if len(doc) == 0 || doc[0] != '{' || !json.Valid(doc) {
			return nil, fmt.Errorf("%w: value is not a JSON object (value: document)", ErrRecord)
		}
		if src, err = s.project(doc); err != nil {
			return nil, fmt.Errorf("%w: value: %v", ErrRecord, err)
		}
	}
	return &op{rec: i, alias: a, id: id, source: src, targets: s.targetsFor(a, r)}, nil
}

func (s *Sink) aliasFor(topic string) *aliasState { return s.aliases[s.cfg.aliasName(topic)] }

// ensureAliasesLocked opens the aliases of b's topics not seen yet (an
// IndexTemplate over topics Config.Topics did not list). One created during
// a rebuild is new and complete from the records it gets: it takes no part
// in the rebuild.
func (s *Sink) ensureAliasesLocked(ctx context.Context, b connectors.Batch) error {
	last := ""
	for i := range b.Records {
		t := b.Records[i].Topic
		if t == last {
			continue
		}
		last = t
		name := s.cfg.aliasName(t)
		if s.aliases[name] != nil {
			continue
		}
		a, err := s.ensureAlias(ctx, name)
		if err != nil {
			return fmt.Errorf("opening index %s of topic %s: %w", name, t, err)
		}
		s.aliases[name] = a
	}
	return nil
}

// targetsFor returns the indexes a record goes to. Outside a rebuild: the
// alias itself, so that Elasticsearch resolves it at write time (instances
// that raced to create the first index, or an alias moved by hand, never
// leave a sink writing to an index the alias has left). During a rebuild:
// the new index, and the alias too for a record past the last offset this
// sink had written for its partition (a live change the current index has
// not seen yet); a replayed record goes to the new index only, so the alias
// never serves an older state of a document than it did before.
func (s *Sink) targetsFor(a *aliasState, r *connectors.Record) []string {
	if a.next == "" {
		return a.self
	}
	if last, ok := s.lastWritten[topicPartition{r.Topic, r.Partition}]; ok && r.Offset > last {
		return a.both
	}
	return a.nextOnly
}

// project returns the _source of an after image: as it is, or with the
// configured fields selected and renamed. The result is one line.
func (s *Sink) project(after json.RawMessage) ([]byte, error) {
	if len(s.cfg.Fields) == 0 && len(s.cfg.Rename) == 0 {
		if bytes.IndexByte(after, '\n') < 0 && bytes.IndexByte(after, '\r') < 0 {
			return after, nil
		}
		var buf bytes.Buffer
		if err := json.Compact(&buf, after); err != nil {
			return nil, err
		}
		return buf.Bytes(), nil
	}
	row, err := connectors.ParseRow(after)
	if err != nil {
		return nil, err
	}
	out := row[:0:0]
	for _, c := range row {
		if len(s.cfg.Fields) > 0 && !contains(s.cfg.Fields, c.Name) {
			continue
		}
		if n, ok := s.cfg.Rename[c.Name]; ok {
			c.Name = n
		}
		out = append(out, c)
	}
	return out.AppendJSON(nil)
}

func contains(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}

// sendAll sends items in bulk requests of at most BulkMaxDocs actions and
// about BulkMaxBytes, one at a time.
func (s *Sink) sendAll(ctx context.Context, items []item, failed map[int]error) error {
	var body []byte
	start := 0
	for i := range items {
		before := len(body)
		body = appendAction(body, &items[i])
		n := i - start + 1
		if n > 1 && (n > s.cfg.BulkMaxDocs || len(body) > s.cfg.BulkMaxBytes) {
			// items[i] starts the next request.
			if err := s.send(ctx, items[start:i], body[:before], failed); err != nil {
				return err
			}
			body = appendAction(body[:0], &items[i])
			start = i
		}
	}
	if start < len(items) {
		return s.send(ctx, items[start:], body, failed)
	}
	return nil
}

// appendAction appends one bulk action (and its source line) to dst.
func appendAction(dst []byte, it *item) []byte {
	if it.op.source == nil {
		dst = append(dst, `{"delete":{"_index":`...)
	} else {
		dst = append(dst, `{"index":{"_index":`...)
	}
	dst = appendJSONString(dst, it.index)
	dst = append(dst, `,"_id":`...)
	dst = appendJSONString(dst, it.op.id)
	dst = append(dst, "}}\n"...)
	if it.op.source != nil {
		dst = append(dst, it.op.source...)
		dst = append(dst, '\n')
	}
	return dst
}

func appendJSONString(dst []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c == '"' || c == '\\' || c >= 0x80 {
			b, _ := json.Marshal(s)
			return append(dst, b...)
		}
	}
	dst = append(dst, '"')
	dst = append(dst, s...)
	return append(dst, '"')
}

// bulkPath asks only for what Write reads: per item, status and error.
const bulkPath = "/_bulk?filter_path=errors,items.*.status,items.*.error"

// send sends one bulk request and retries what failed for a transient
// reason (the whole request, or single items) with backoff, for at most
// RetryTimeout. Items rejected for themselves go to failed.
func (s *Sink) send(ctx context.Context, items []item, body []byte, failed map[int]error) error {
	deadline := time.Now().Add(s.cfg.RetryTimeout)
	backoff := 50 * time.Millisecond
	for attempt := 1; ; attempt++ {
		s.m.bulk.Inc()
		_, resp, err := s.do(ctx, http.MethodPost, bulkPath, body)
		var retry []item
		if err == nil {
			retry, err = s.results(resp, items, failed)
		}
		var he *httpError
		switch {
		case err == nil && len(retry) == 0:
			return nil
		case ctx.Err() != nil:
			return ctx.Err()
		case errors.As(err, &he) && he.Status == http.StatusRequestEntityTooLarge:
			return s.split(ctx, items, failed, err)
		case err != nil && !transient(err):
			return fmt.Errorf("%w: %v", ErrRequest, err)
		}
		s.m.connErrors.Inc()
		if err == nil {
			items = retry
			body = body[:0]
			for i := range items {
				body = appendAction(body, &items[i])
			}
			err = fmt.Errorf("%d document(s) failed transiently", len(items))
		}
		if time.Now().Add(backoff).After(deadline) {
			return fmt.Errorf("%w: %d attempts in %s: %v", ErrUnavailable, attempt, s.cfg.RetryTimeout, err)
		}
		if attempt == 1 || attempt%10 == 0 {
			s.log.Warn("bulk request failed; retrying", "attempt", attempt, "err", err)
		}
		t := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
		backoff = min(backoff*2, 2*time.Second)
	}
}

// split handles a request Elasticsearch found too large
// (http.max_content_length): halves are sent on their own; one document too
// large is rejected for itself.
func (s *Sink) split(ctx context.Context, items []item, failed map[int]error, cause error) error {
	if len(items) == 1 {
		if rec := items[0].op.rec; failed[rec] == nil {
			failed[rec] = fmt.Errorf("%w: %s: %v", ErrRejected, items[0].op.id, cause)
		}
		return nil
	}
	half := len(items) / 2
	for _, part := range [][]item{items[:half], items[half:]} {
		var body []byte
		for i := range part {
			body = appendAction(body, &part[i])
		}
		if err := s.send(ctx, part, body, failed); err != nil {
			return err
		}
	}
	return nil
}

type bulkResponse struct {
	Errors bool                          `json:"errors"`
	Items  []map[string]bulkItemResponse `json:"items"`
}

type bulkItemResponse struct {
	Status int             `json:"status"`
	Error  json.RawMessage `json:"error"`
}

var errorsFalse = []byte(`{"errors":false`)

// results reads a bulk response for items: items to retry (transient
// failures), rejected ones into failed.
func (s *Sink) results(resp []byte, items []item, failed map[int]error) ([]item, error) {
	if bytes.HasPrefix(resp, errorsFalse) {
		return nil, nil
	}
	var br bulkResponse
	if err := json.Unmarshal(resp, &br); err != nil {
		return nil, fmt.Errorf("decoding bulk response: %w", err)
	}
	if !br.Errors {
		return nil, nil
	}
	if len(br.Items) != len(items) {
		return nil, fmt.Errorf("bulk response has %d items for %d actions", len(br.Items), len(items))
	}
	for i, m := range br.Items {
		if len(m) != 1 {
			return nil, fmt.Errorf("bulk response item %d has %d actions", i, len(m))
		}
	}
	var retry []item
	for i, m := range br.Items {
		for action, r := range m {
			switch c := classify(action, r); c {
			case itemOK:
			case itemRetry:
				retry = append(retry, items[i])
			case itemRejected:
				rec := items[i].op.rec
				if failed[rec] == nil {
					failed[rec] = fmt.Errorf("%w: %s %s/%s: status %d: %s", ErrRejected, action, items[i].index, items[i].op.id, r.Status, reason(r.Error))
				}
			}
		}
	}
	return retry, nil
}

type itemClass int

const (
	itemOK itemClass = iota
	itemRetry
	itemRejected
)

// transientTypes are per-item errors that say nothing about the document:
// the index or cluster is not ready; retried like a 5xx.
var transientTypes = []string{
	"index_not_found_exception", "cluster_block_exception", "unavailable_shards_exception",
	"es_rejected_execution_exception", "circuit_breaking_exception", "no_shard_available_action_exception",
}

func classify(action string, r bulkItemResponse) itemClass {
	switch {
	case r.Status < 300:
		return itemOK
	case r.Status == http.StatusNotFound && action == "delete":
		return itemOK // already gone
	case r.Status == http.StatusTooManyRequests || r.Status >= 500:
		return itemRetry
	}
	var e struct {
		Type   string `json:"type"`
		Reason string `json:"reason"`
	}
	_ = json.Unmarshal(r.Error, &e)
	for _, t := range transientTypes {
		if e.Type == t {
			return itemRetry
		}
	}
	if strings.Contains(e.Reason, "no write index is defined for alias") {
		return itemRetry // the alias covers two indexes for a moment (racing opens)
	}
	return itemRejected
}

// reason renders a per-item error as "type: reason (caused by ...)".
func reason(raw json.RawMessage) string {
	var e struct {
		Type     string `json:"type"`
		Reason   string `json:"reason"`
		CausedBy *struct {
			Type   string `json:"type"`
			Reason string `json:"reason"`
		} `json:"caused_by"`
	}
	if err := json.Unmarshal(raw, &e); err != nil || e.Type == "" {
		return string(raw)
	}
	s := e.Type + ": " + e.Reason
	if c := e.CausedBy; c != nil {
		s += " (caused by " + c.Type + ": " + c.Reason + ")"
	}
	return s
}
