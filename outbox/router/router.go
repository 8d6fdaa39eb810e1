package router

import (
	"bytes"
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/sluicehq/sluice/connectors"
)

// DefaultTopic is the topic template used when Config.Topic is empty.
const DefaultTopic = connectors.DefaultOutboxTopic

// DefaultPrefix is the logical decoding message prefix the outbox library
// writes by default.
const DefaultPrefix = "sluice.outbox"

// maxTopicLen is Kafka's limit on topic names.
const maxTopicLen = 249

// Columns names the outbox table's columns. Empty names take the defaults
// (the parts' own names), except Headers, which also defaults to "headers"
// but may be absent from a row.
type Columns struct {
	ID            string
	AggregateType string
	AggregateID   string
	Type          string
	Payload       string
	Headers       string
	// Extra columns copied into headers (header key = column name), as
	// text; a column absent from the row or NULL is skipped.
	Extra []string
}

// Config configures a Router.
type Config struct {
	Table   string  // schema.table of the outbox (informational; the source matches it)
	Prefix  string  // logical decoding message prefix RouteMessage accepts; empty: DefaultPrefix
	Topic   string  // template with {aggregatetype} and {type}; empty: DefaultTopic
	Columns Columns // table mapping (RouteRow)

	Partitions        int32 // of the event topics; <= 0: the pipeline's default
	ReplicationFactor int16 // of the event topics; <= 0: the pipeline's default
}

// FromPipeline builds a Config from a pipeline source's outbox block and its
// topic settings (CONTRACTS.md "Outbox").
func FromPipeline(o *connectors.OutboxConfig, partitions int32, rf int16) Config {
	return Config{
		Table: o.Table, Prefix: o.Prefix, Topic: o.Topic,
		Columns: Columns{
			ID: o.Columns.ID, AggregateType: o.Columns.AggregateType, AggregateID: o.Columns.AggregateID,
			Type: o.Columns.Type, Payload: o.Columns.Payload, Headers: o.Columns.Headers,
		},
		Partitions: partitions, ReplicationFactor: rf,
	}
}

// Router maps outbox events to records. It is immutable and safe for
// concurrent use.
type Router struct {
	cfg Config
}

// New checks cfg, applies its defaults and returns a Router.
func New(cfg Config) (*Router, error) {
	def := func(s *string, d string) {
		if *s == "" {
			*s = d
		}
	}
	def(&cfg.Prefix, DefaultPrefix)
	def(&cfg.Topic, DefaultTopic)
	c := &cfg.Columns
	def(&c.ID, "id")
	def(&c.AggregateType, "aggregatetype")
	def(&c.AggregateID, "aggregateid")
	def(&c.Type, "type")
	def(&c.Payload, "payload")
	def(&c.Headers, "headers")
	c.Extra = append([]string(nil), c.Extra...)
	rest := strings.NewReplacer("{aggregatetype}", "x", "{type}", "x").Replace(cfg.Topic)
	if strings.ContainsAny(rest, "{}") {
		return nil, fmt.Errorf("%w: topic %q: only {aggregatetype} and {type} are known", ErrConfig, cfg.Topic)
	}
	if err := checkTopic(rest); err != nil {
		return nil, fmt.Errorf("%w: topic %q: %v", ErrConfig, cfg.Topic, err)
	}
	return &Router{cfg: cfg}, nil
}

// Config returns the Router's configuration with its defaults applied.
func (r *Router) Config() Config { return r.cfg }

// Table is the outbox table the source must route (empty in message mode).
func (r *Router) Table() string { return r.cfg.Table }

// TopicSpec is how to create an event topic: not compacted (events are not
// state), the source's partitions and replication factor.
func (r *Router) TopicSpec(topic string) connectors.TopicSpec {
	return connectors.TopicSpec{
		Name: topic, Partitions: r.cfg.Partitions, ReplicationFactor: r.cfg.ReplicationFactor,
		Configs: map[string]string{"cleanup.policy": "delete"},
	}
}

// Route routes a captured change of the outbox table: inserts (op c) route
// through RouteRow; every other op (updates, deletes, snapshot reads,
// truncates) returns false, since an outbox is insert-only and its rows are
// events only when written.
func (r *Router) Route(op connectors.Op, after connectors.Row) (connectors.Record, bool, error) {
	if op != connectors.OpCreate {
		return connectors.Record{}, false, nil
	}
	rec, err := r.RouteRow(after)
	return rec, err == nil, err
}

// RouteRow maps an inserted outbox row (its after image) to a record. The
// returned record owns fresh slices. Errors wrap ErrMissingColumn or
// ErrInvalidEvent and name the column.
func (r *Router) RouteRow(row connectors.Row) (connectors.Record, error) {
	c := &r.cfg.Columns
	var ev event
	var err error
	if ev.id, err = textCol(row, c.ID); err != nil {
		return connectors.Record{}, err
	}
	if ev.aggType, err = textCol(row, c.AggregateType); err != nil {
		return connectors.Record{}, err
	}
	if ev.aggID, err = textCol(row, c.AggregateID); err != nil {
		return connectors.Record{}, err
	}
	if ev.typ, err = textCol(row, c.Type); err != nil {
		return connectors.Record{}, err
	}
	v, ok := row.Get(c.Payload)
	if !ok {
		return connectors.Record{}, fmt.Errorf("%w %q (payload)", ErrMissingColumn, c.Payload)
	}
	if ev.payload, err = jsonValue(v); err != nil {
		return connectors.Record{}, fmt.Errorf("%w: column %q (payload): %v", ErrInvalidEvent, c.Payload, err)
	}
	if hv, ok := row.Get(c.Headers); ok && hv != nil {
		raw, err := jsonValue(hv)
		if err != nil {
			return connectors.Record{}, fmt.Errorf("%w: column %q (headers): %v", ErrInvalidEvent, c.Headers, err)
		}
		if ev.headers, err = headerObject(raw); err != nil {
			return connectors.Record{}, fmt.Errorf("%w: column %q (headers): %v", ErrInvalidEvent, c.Headers, err)
		}
	}
	for _, name := range c.Extra {
		v, ok := row.Get(name)
		if !ok || v == nil {
			continue
		}
		t, err := text(v)
		if err != nil {
			return connectors.Record{}, fmt.Errorf("%w: column %q: %v", ErrInvalidEvent, name, err)
		}
		ev.extra = append(ev.extra, connectors.Header{Key: name, Value: []byte(t)})
	}
	return r.record(&ev, c)
}

// message is the content of an outbox logical decoding message.
type message struct {
	ID            *string                    `json:"id"`
	AggregateType *string                    `json:"aggregatetype"`
	AggregateID   json.RawMessage            `json:"aggregateid"`
	Type          *string                    `json:"type"`
	Payload       json.RawMessage            `json:"payload"`
	Headers       map[string]json.RawMessage `json:"headers"`
}

// RouteMessage maps a transactional logical decoding message to a record.
// It returns false (and no error) when prefix is not the Router's: such
// messages belong to someone else. Errors wrap ErrInvalidEvent and name the
// field. content is not retained.
func (r *Router) RouteMessage(prefix string, content []byte) (connectors.Record, bool, error) {
	if prefix != r.cfg.Prefix {
		return connectors.Record{}, false, nil
	}
	var m message
	if err := json.Unmarshal(content, &m); err != nil {
		return connectors.Record{}, true, fmt.Errorf("%w: message %q: decoding content: %v", ErrInvalidEvent, prefix, err)
	}
	var ev event
	for _, f := range []struct {
		name string
		v    *string
		dst  *string
	}{{"id", m.ID, &ev.id}, {"aggregatetype", m.AggregateType, &ev.aggType}, {"type", m.Type, &ev.typ}} {
		if f.v == nil {
			return connectors.Record{}, true, fmt.Errorf("%w: message %q: field %q missing or not a string", ErrInvalidEvent, prefix, f.name)
		}
		*f.dst = *f.v
	}
	if len(m.AggregateID) == 0 || bytes.Equal(m.AggregateID, []byte("null")) {
		return connectors.Record{}, true, fmt.Errorf("%w: message %q: field \"aggregateid\" missing", ErrInvalidEvent, prefix)
	}
	ev.aggID = rawText(m.AggregateID)
	if len(m.Payload) == 0 {
		return connectors.Record{}, true, fmt.Errorf("%w: message %q: field \"payload\" missing", ErrInvalidEvent, prefix)
	}
	ev.payload = m.Payload
	if len(m.Headers) > 0 {
		ev.headers = make([]connectors.Header, 0, len(m.Headers))
		for k, v := range m.Headers {
			if !bytes.Equal(v, []byte("null")) {
				ev.headers = append(ev.headers, connectors.Header{Key: k, Value: []byte(rawText(v))})
			}
		}
		sortHeaders(ev.headers)
	}
	rec, err := r.record(&ev, &Columns{ID: "id", AggregateType: "aggregatetype", AggregateID: "aggregateid", Type: "type"})
	if err != nil {
		return connectors.Record{}, true, fmt.Errorf("message %q: %w", prefix, err)
	}
	return rec, true, nil
}

type event struct {
	id, aggType, aggID, typ string
	payload                 []byte
	headers, extra          []connectors.Header
}

func (r *Router) record(ev *event, c *Columns) (connectors.Record, error) {
	for _, f := range []struct{ col, v string }{{c.ID, ev.id}, {c.AggregateType, ev.aggType}, {c.AggregateID, ev.aggID}, {c.Type, ev.typ}} {
		if f.v == "" {
			return connectors.Record{}, fmt.Errorf("%w: %q is empty", ErrInvalidEvent, f.col)
		}
	}
	topic := r.topic(ev)
	if err := checkTopic(topic); err != nil {
		return connectors.Record{}, fmt.Errorf("%w: topic %q from %q=%q, %q=%q: %v",
			ErrInvalidEvent, topic, c.AggregateType, ev.aggType, c.Type, ev.typ, err)
	}
	hs := make([]connectors.Header, 0, 2+len(ev.headers)+len(ev.extra))
	hs = append(hs, connectors.Header{Key: "id", Value: []byte(ev.id)}, connectors.Header{Key: "type", Value: []byte(ev.typ)})
	for _, h := range ev.headers {
		if h.Key != "id" && h.Key != "type" {
			hs = append(hs, h)
		}
	}
	hs = append(hs, ev.extra...)
	return connectors.Record{
		Topic: topic, Partition: -1, Key: []byte(ev.aggID),
		Value: append([]byte(nil), ev.payload...), Headers: hs,
	}, nil
}

func (r *Router) topic(ev *event) string {
	t := r.cfg.Topic
	if strings.Contains(t, "{") {
		t = strings.NewReplacer("{aggregatetype}", ev.aggType, "{type}", ev.typ).Replace(t)
	}
	return t
}

// checkTopic applies Kafka's topic name rules.
func checkTopic(t string) error {
	switch {
	case t == "":
		return fmt.Errorf("empty topic name")
	case t == "." || t == "..":
		return fmt.Errorf("topic name %q is not allowed", t)
	case len(t) > maxTopicLen:
		return fmt.Errorf("topic name longer than %d", maxTopicLen)
	}
	for i := 0; i < len(t); i++ {
		b := t[i]
		if !(b >= 'a' && b <= 'z' || b >= 'A' && b <= 'Z' || b >= '0' && b <= '9' || b == '.' || b == '_' || b == '-') {
			return fmt.Errorf("character %q not allowed in a topic name", b)
		}
	}
	return nil
}

// textCol returns a required column's value as text.
func textCol(row connectors.Row, name string) (string, error) {
	v, ok := row.Get(name)
	if !ok {
		return "", fmt.Errorf("%w %q", ErrMissingColumn, name)
	}
	if v == nil {
		return "", fmt.Errorf("%w: column %q is NULL", ErrInvalidEvent, name)
	}
	t, err := text(v)
	if err != nil {
		return "", fmt.Errorf("%w: column %q: %v", ErrInvalidEvent, name, err)
	}
	return t, nil
}

// text renders a column value as the text a database shows for it: strings
// and raw bytes as they are, numbers in decimal, JSON as written.
func text(v any) (string, error) {
	switch v := v.(type) {
	case string:
		return v, nil
	case []byte:
		return string(v), nil
	case json.RawMessage:
		return rawText(v), nil
	case json.Number:
		return string(v), nil
	case int64:
		return strconv.FormatInt(v, 10), nil
	case int32:
		return strconv.FormatInt(int64(v), 10), nil
	case int:
		return strconv.Itoa(v), nil
	case uint64:
		return strconv.FormatUint(v, 10), nil
	case bool:
		return strconv.FormatBool(v), nil
	case connectors.Row:
		b, err := v.AppendJSON(nil)
		return string(b), err
	default:
		b, err := json.Marshal(v)
		return string(b), err
	}
}

// rawText is a JSON value's text: a string unquoted, anything else as written.
func rawText(raw json.RawMessage) string {
	if len(raw) > 0 && raw[0] == '"' {
		var s string
		if json.Unmarshal(raw, &s) == nil {
			return s
		}
	}
	return string(raw)
}

// jsonValue returns a payload or headers column as JSON. Text holding JSON
// (MySQL JSON, a json column read as text) passes as written; text that is
// not JSON is an error rather than silently quoted.
func jsonValue(v any) ([]byte, error) {
	switch v := v.(type) {
	case nil:
		return []byte("null"), nil
	case json.RawMessage:
		if !json.Valid(v) {
			return nil, fmt.Errorf("not valid JSON")
		}
		return v, nil
	case string:
		if !json.Valid([]byte(v)) {
			return nil, fmt.Errorf("text is not valid JSON")
		}
		return []byte(v), nil
	case []byte:
		if !json.Valid(v) {
			return nil, fmt.Errorf("bytes are not valid JSON")
		}
		return v, nil
	case connectors.Row:
		return v.AppendJSON(nil)
	default:
		return json.Marshal(v)
	}
}

// headerObject turns a JSON object into headers sorted by key; string values
// are unquoted, others kept as JSON text, nulls dropped.
func headerObject(raw []byte) ([]connectors.Header, error) {
	if bytes.Equal(bytes.TrimSpace(raw), []byte("null")) {
		return nil, nil
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, fmt.Errorf("not a JSON object: %v", err)
	}
	hs := make([]connectors.Header, 0, len(m))
	for k, v := range m {
		if !bytes.Equal(v, []byte("null")) {
			hs = append(hs, connectors.Header{Key: k, Value: []byte(rawText(v))})
		}
	}
	sortHeaders(hs)
	return hs, nil
}

func sortHeaders(hs []connectors.Header) {
	sort.Slice(hs, func(i, j int) bool { return hs[i].Key < hs[j].Key })
}
