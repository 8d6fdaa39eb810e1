package redis

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/sluicehq/sluice/connectors"
)

// unavailable is Debezium's marker for an unchanged TOASTed column whose
// value the source did not receive. A column holding exactly this JSON
// string is "unchanged": it never overwrites a stored value.
const unavailable = "__debezium_unavailable_value"

var quotedUnavailable = []byte(`"` + unavailable + `"`)

type opKind uint8

const (
	opSet      opKind = iota // string mode upsert
	opHash                   // hash mode upsert
	opDel                    // delete or tombstone
	opTruncate               // delete every key under prefix
)

// op is one record turned into what Redis must do.
type op struct {
	kind  opKind
	idx   int    // index in Batch.Records
	key   string // Redis key (prefix for opTruncate)
	value []byte // opSet: the after JSON (merged with the stored value when toast)
	// toast lists the columns holding the unchanged-TOAST marker. opSet
	// merges them from the stored value; opHash keeps those fields.
	toast  []string
	after  connectors.Row // parsed after image, when toast or hash
	before json.RawMessage
	fields []any // opHash: field, value pairs
}

// plan turns the records of a batch into ops, in order. Records that are no
// valid change event become RecordErrors instead.
// base is the index of recs[0] in the batch.
func (s *Sink) plan(recs []connectors.Record, base int) ([]op, []connectors.RecordError) {
	ops := make([]op, 0, len(recs))
	var bad []connectors.RecordError
	for i := range recs {
		o, err := s.planOne(&recs[i])
		if err != nil {
			bad = append(bad, connectors.RecordError{Index: base + i, Err: err})
			continue
		}
		o.idx = base + i
		ops = append(ops, o)
	}
	return ops, bad
}

func (s *Sink) planOne(r *connectors.Record) (op, error) {
	if s.cfg.Value == ValueDocument {
		return s.planDocument(r)
	}
	if r.Value == nil { // tombstone: only the key and the topic are known
		k, err := s.redisKey(r.Key, topicTable(r.Topic))
		if err != nil {
			return op{}, err
		}
		return op{kind: opDel, key: k}, nil
	}
	env, ok := scanEnvelope(r.Value, s.names)
	if !ok {
		e, err := connectors.DecodeEnvelope(r.Value)
		if err != nil {
			return op{}, fmt.Errorf("%w: %w", ErrRecord, err)
		}
		env = scanned{op: e.Op, before: e.Before, after: e.After, table: e.Source.Table}
	}
	table := env.table
	if table == "" {
		table = topicTable(r.Topic)
	}
	s.noteTable(table)
	switch env.op {
	case connectors.OpTruncate:
		p, err := s.tablePrefix(table)
		if err != nil {
			return op{}, err
		}
		return op{kind: opTruncate, key: p}, nil
	case connectors.OpDelete:
		k, err := s.redisKey(r.Key, table)
		if err != nil {
			return op{}, err
		}
		return op{kind: opDel, key: k}, nil
	}
	// r, c, u: upsert the after image.
	k, err := s.redisKey(r.Key, table)
	if err != nil {
		return op{}, err
	}
	after := bytes.TrimSpace(env.after)
	if len(after) == 0 || after[0] != '{' {
		return op{}, fmt.Errorf("%w: op %q without an after image", ErrRecord, env.op)
	}
	o := op{kind: opSet, key: k, value: after, before: env.before}
	if s.cfg.Mode == ModeHash {
		o.kind = opHash
	}
	if o.kind == opSet && !bytes.Contains(after, quotedUnavailable) {
		return o, nil // SET the image as it came (the envelope was validated whole)
	}
	if o.kind == opHash {
		if f, toast, ok := scanHashFields(after); ok {
			o.fields, o.toast = f, toast
			return o, nil
		}
	}
	row, err := connectors.ParseRow(after)
	if err != nil {
		return op{}, fmt.Errorf("%w: after image: %w", ErrRecord, err)
	}
	o.after = row
	for _, c := range row {
		if v, ok := c.Value.(string); ok && v == unavailable {
			o.toast = append(o.toast, c.Name)
		}
	}
	if o.kind == opHash {
		o.fields = hashFields(row)
	}
	return o, nil
}

// planDocument plans a record whose value is the document itself
// (Config.Value = ValueDocument): SET (or HSET) a JSON object value, DEL on
// a null value.
func (s *Sink) planDocument(r *connectors.Record) (op, error) {
	table := topicTable(r.Topic)
	s.noteTable(table)
	k, err := s.redisKey(connectors.DocumentKey(r.Key), table)
	if err != nil {
		return op{}, err
	}
	if r.Value == nil {
		return op{kind: opDel, key: k}, nil
	}
	doc := bytes.TrimSpace(r.Value)
	if len(doc) == 0 || doc[0] != '{' || !json.Valid(doc) {
		return op{}, fmt.Errorf("%w: value is not a JSON object (value: document)", ErrRecord)
	}
	if s.cfg.Mode != ModeHash {
		return op{kind: opSet, key: k, value: doc}, nil
	}
	row, err := connectors.ParseRow(doc)
	if err != nil {
		return op{}, fmt.Errorf("%w: value: %w", ErrRecord, err)
	}
	return op{kind: opHash, key: k, after: row, fields: hashFields(row)}, nil
}

// hashFields returns the field/value pairs of an image: every column that
// is neither NULL nor the TOAST marker, rendered like key values (strings
// as they are, numbers as their literal, nested JSON compact).
func hashFields(row connectors.Row) []any {
	f := make([]any, 0, 2*len(row))
	for _, c := range row {
		switch v := c.Value.(type) {
		case nil:
			continue
		case string:
			if v == unavailable {
				continue
			}
		}
		f = append(f, c.Name, connectors.KeyText(c.Value))
	}
	return f
}

// redisKey renders the Redis key of a record key for table.
func (s *Sink) redisKey(rawKey []byte, table string) (string, error) {
	if len(rawKey) == 0 {
		return "", fmt.Errorf("%w: record has no key", ErrRecord)
	}
	if s.tmpl == nil && table != "" {
		buf := make([]byte, 0, len(s.cfg.Pipeline)+len(table)+len(rawKey))
		buf = append(append(append(append(buf, s.cfg.Pipeline...), ':'), table...), ':')
		if buf, ok := appendKeyID(buf, rawKey); ok {
			return string(buf), nil
		}
	}
	key, ok := scanKey(rawKey)
	if !ok {
		var err error
		if key, err = connectors.ParseRow(rawKey); err != nil {
			return "", fmt.Errorf("%w: key: %w", ErrRecord, err)
		}
	}
	if len(key) == 0 {
		return "", fmt.Errorf("%w: key has no column", ErrRecord)
	}
	if s.tmpl != nil {
		return s.tmpl.Render(key)
	}
	if table == "" {
		return "", fmt.Errorf("%w: no table (source.table and topic are empty)", ErrRecord)
	}
	return s.cfg.Pipeline + ":" + table + ":" + connectors.KeyID(key), nil
}

// tablePrefix is the prefix holding every key of table: the template's
// static prefix, or `<pipeline>:<table>:` for the default template.
func (s *Sink) tablePrefix(table string) (string, error) {
	if s.tmpl != nil {
		if s.tmpl.Prefix() == "" {
			return "", fmt.Errorf("%w (key %q)", ErrNoPrefix, s.tmpl)
		}
		return s.tmpl.Prefix(), nil
	}
	if table == "" {
		return "", fmt.Errorf("%w: no table (source.table and topic are empty)", ErrRecord)
	}
	return s.cfg.Pipeline + ":" + table + ":", nil
}

// topicTable derives the table from a changelog topic
// `<prefix>.<schema>.<table>`: its last dot-separated segment.
func topicTable(topic string) string {
	return topic[strings.LastIndexByte(topic, '.')+1:]
}

// mergeToast returns the after image with each marked column replaced by
// its stored value, else by its value in before, else left out: a marker
// is never written.
func mergeToast(after connectors.Row, stored []byte, before json.RawMessage) ([]byte, error) {
	var st, bf connectors.Row
	if stored != nil {
		st, _ = connectors.ParseRow(stored) // a non-object stored value counts as none
	}
	if !connectors.IsNull(before) {
		bf, _ = connectors.ParseRow(before)
	}
	out := make(connectors.Row, 0, len(after))
	for _, c := range after {
		if v, ok := c.Value.(string); ok && v == unavailable {
			if sv, ok := st.Get(c.Name); ok && !isMarker(sv) {
				out = append(out, connectors.Column{Name: c.Name, Value: sv})
			} else if bv, ok := bf.Get(c.Name); ok && !isMarker(bv) {
				out = append(out, connectors.Column{Name: c.Name, Value: bv})
			}
			continue
		}
		out = append(out, c)
	}
	return out.AppendJSON(nil)
}

func isMarker(v any) bool {
	s, ok := v.(string)
	return ok && s == unavailable
}
