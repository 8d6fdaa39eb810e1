package connectors

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
)

// Transform types, as the pipeline file names them.
const (
	TransformFilter       = "filter"
	TransformDropFields   = "drop_fields"
	TransformMaskFields   = "mask_fields"
	TransformRenameFields = "rename_fields"
	TransformRoute        = "route"
)

// MaskValue replaces the value of a masked field.
const MaskValue = "****"

// TransformSpec is one transform of a pipeline, applied in order to every
// record a source reads, before it is produced. Tables are named
// "schema.table" (Postgres) or "database.table" (MySQL), matched against the
// envelope's source.schema (else source.db) and source.table.
//
//   - filter: records of Tables (all tables when empty) whose op is not in
//     Ops are dropped; other tables pass untouched. The tombstone following
//     a dropped delete is dropped with it.
//   - drop_fields / mask_fields: Fields of Table (or of each of Tables) are
//     removed from, or masked with MaskValue in, the before and after images.
//   - rename_fields: Rename (old -> new) in the images of Table/Tables.
//   - route: records of Tables go to Topic instead (their tombstones too).
//
// Values that are not change envelopes (outbox events) pass every transform
// untouched. The key is never changed, so partitioning is unaffected.
type TransformSpec struct {
	Type   string
	Tables []string
	Table  string
	Ops    []Op
	Fields []string
	Rename map[string]string
	Topic  string
}

func (s TransformSpec) tables() []string {
	if s.Table != "" {
		return append([]string{s.Table}, s.Tables...)
	}
	return s.Tables
}

func (s TransformSpec) validate() error {
	switch s.Type {
	case TransformFilter:
		for _, op := range s.Ops {
			if !op.Valid() {
				return fmt.Errorf("%w: filter: op %q", ErrBadSpec, op)
			}
		}
	case TransformDropFields, TransformMaskFields:
		if len(s.tables()) == 0 || len(s.Fields) == 0 {
			return fmt.Errorf("%w: %s needs a table and fields", ErrBadSpec, s.Type)
		}
	case TransformRenameFields:
		if len(s.tables()) == 0 || len(s.Rename) == 0 {
			return fmt.Errorf("%w: rename_fields needs a table and fields", ErrBadSpec)
		}
	case TransformRoute:
		if len(s.tables()) == 0 || s.Topic == "" {
			return fmt.Errorf("%w: route needs tables and a topic", ErrBadSpec)
		}
	default:
		return fmt.Errorf("%w: unknown transform type %q", ErrBadSpec, s.Type)
	}
	return nil
}

// transformChain applies a pipeline's transforms. Not safe for concurrent
// use: one per source run, owned by its read loop.
type transformChain struct {
	specs []TransformSpec
	// deletes remembers, per topic+key, what happened to the last delete
	// event, so its tombstone follows it (dropped or routed alike).
	deletes map[string]tombstoneFate
}

type tombstoneFate struct {
	drop  bool
	topic string
}

func newTransformChain(specs []TransformSpec) (*transformChain, error) {
	for i, s := range specs {
		if err := s.validate(); err != nil {
			return nil, fmt.Errorf("transforms[%d]: %w", i, err)
		}
	}
	return &transformChain{specs: specs, deletes: map[string]tombstoneFate{}}, nil
}

// apply transforms recs in place and returns the kept ones and how many
// were dropped. With no transforms configured it returns recs untouched,
// without decoding anything.
func (c *transformChain) apply(recs []Record) ([]Record, int) {
	if c == nil || len(c.specs) == 0 {
		return recs, 0
	}
	out := recs[:0]
	dropped := 0
	for _, r := range recs {
		if c.one(&r) {
			out = append(out, r)
		} else {
			dropped++
		}
	}
	return out, dropped
}

// one transforms r and reports whether to keep it.
func (c *transformChain) one(r *Record) bool {
	dk := r.Topic + "\x00" + string(r.Key)
	if r.Value == nil {
		fate, ok := c.deletes[dk]
		if !ok {
			return true
		}
		delete(c.deletes, dk)
		if fate.topic != "" {
			r.Topic = fate.topic
		}
		return !fate.drop
	}
	env, ok := parseObject(r.Value)
	if !ok {
		return true
	}
	var op Op
	if raw := env.get("op"); raw == nil || json.Unmarshal(raw, &op) != nil || !op.Valid() {
		return true // not a change event (an outbox payload): untouched
	}
	table := envelopeTable(env.get("source"))
	origTopic := r.Topic
	changed, keep := false, true
	for _, s := range c.specs {
		if !slices.Contains(s.tables(), table) && !(s.Type == TransformFilter && len(s.tables()) == 0) {
			continue
		}
		switch s.Type {
		case TransformFilter:
			if len(s.Ops) > 0 && !slices.Contains(s.Ops, op) {
				keep = false
			}
		case TransformRoute:
			r.Topic = s.Topic
		case TransformDropFields, TransformMaskFields, TransformRenameFields:
			for _, img := range []string{"before", "after"} {
				if editImage(env, img, s) {
					changed = true
				}
			}
		}
		if !keep {
			break
		}
	}
	if op == OpDelete {
		c.deletes[origTopic+"\x00"+string(r.Key)] = tombstoneFate{drop: !keep, topic: r.Topic}
	}
	if keep && changed {
		r.Value = env.encode()
	}
	return keep
}

// envelopeTable returns "schema.table", else "db.table", from a source block.
func envelopeTable(raw json.RawMessage) string {
	var s struct {
		DB     string `json:"db"`
		Schema string `json:"schema"`
		Table  string `json:"table"`
	}
	if raw == nil || json.Unmarshal(raw, &s) != nil {
		return ""
	}
	if s.Schema != "" {
		return s.Schema + "." + s.Table
	}
	return s.DB + "." + s.Table
}

// editImage applies a field transform to env's image name; it reports
// whether anything changed.
func editImage(env *jsonObject, name string, s TransformSpec) bool {
	raw := env.get(name)
	if raw == nil || IsNull(raw) {
		return false
	}
	img, ok := parseObject(raw)
	if !ok {
		return false
	}
	changed := false
	switch s.Type {
	case TransformDropFields:
		for _, f := range s.Fields {
			if img.del(f) {
				changed = true
			}
		}
	case TransformMaskFields:
		mask, _ := json.Marshal(MaskValue)
		for _, f := range s.Fields {
			if v := img.get(f); v != nil && !IsNull(v) {
				img.set(f, mask)
				changed = true
			}
		}
	case TransformRenameFields:
		for i := range img.fields {
			if to, ok := s.Rename[img.fields[i].name]; ok {
				img.fields[i].name = to
				changed = true
			}
		}
	}
	if changed {
		env.set(name, img.encode())
	}
	return changed
}

// jsonObject is a JSON object with its member order kept, so a transformed
// envelope differs from the original only where a transform changed it.
type jsonObject struct {
	fields []jsonField
}

type jsonField struct {
	name string
	raw  json.RawMessage
}

// parseObject parses b as one JSON object; ok is false for anything else.
func parseObject(b []byte) (*jsonObject, bool) {
	dec := json.NewDecoder(bytes.NewReader(b))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return nil, false
	}
	o := &jsonObject{}
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return nil, false
		}
		name, ok := t.(string)
		if !ok {
			return nil, false
		}
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return nil, false
		}
		o.fields = append(o.fields, jsonField{name: name, raw: raw})
	}
	if t, err := dec.Token(); err != nil || t != json.Delim('}') {
		return nil, false
	}
	if _, err := dec.Token(); err == nil {
		return nil, false // trailing data
	}
	return o, true
}

func (o *jsonObject) get(name string) json.RawMessage {
	for _, f := range o.fields {
		if f.name == name {
			return f.raw
		}
	}
	return nil
}

func (o *jsonObject) set(name string, raw json.RawMessage) {
	for i := range o.fields {
		if o.fields[i].name == name {
			o.fields[i].raw = raw
			return
		}
	}
	o.fields = append(o.fields, jsonField{name: name, raw: raw})
}

func (o *jsonObject) del(name string) bool {
	n := len(o.fields)
	o.fields = slices.DeleteFunc(o.fields, func(f jsonField) bool { return f.name == name })
	return len(o.fields) != n
}

func (o *jsonObject) encode() []byte {
	b := []byte{'{'}
	for i, f := range o.fields {
		if i > 0 {
			b = append(b, ',')
		}
		name, _ := json.Marshal(f.name)
		b = append(b, name...)
		b = append(b, ':')
		b = append(b, f.raw...)
	}
	return append(b, '}')
}
