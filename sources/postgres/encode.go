package postgres

import (
	"strconv"
	"time"

	"github.com/sluicehq/sluice/connectors"
)

// eventMeta is what an event's source block carries besides the table.
type eventMeta struct {
	snapshot string // "true" | "last" | "false"
	tsMs     int64  // commit time (snapshot: snapshot start)
	lsn      int64
	txID     int64 // < 0: omitted
	now      int64 // envelope ts_ms: processing time
	sizeHint int   // bytes of the row's text values, to size the value buffer
}

// encoder builds records for one Source (its prefix and database are fixed).
type encoder struct {
	prefix, db       string
	nameJSON, dbJSON []byte // prefix and db as JSON strings (prepare)
}

// prepare caches the prefix and database as JSON strings. Open calls it
// before starting any goroutine; the caches are read-only afterwards.
func (e *encoder) prepare() {
	e.nameJSON = appendJSONString(nil, e.prefix)
	e.dbJSON = appendJSONString(nil, e.db)
}

// prepare caches the table's JSON fragments (source block, column names).
// Open calls it before starting any goroutine; read-only afterwards.
func (t *table) prepare() {
	b := append([]byte(`,"schema":`), appendJSONString(nil, t.schema)...)
	b = append(b, `,"table":`...)
	t.srcJSON = append(b, appendJSONString(nil, t.name)...)
	t.colJSON = make([][]byte, len(t.cols))
	for i, c := range t.cols {
		t.colJSON[i] = append(appendJSONString(nil, c.name), ':')
	}
}

// appendEnvelope writes the Debezium envelope in the field order of
// connectors.Envelope.Marshal, without reflection.
func (e *encoder) appendEnvelope(dst []byte, t *table, op connectors.Op, before, after connectors.Row, m *eventMeta) ([]byte, error) {
	var err error
	dst = append(dst, `{"before":`...)
	if before == nil {
		dst = append(dst, "null"...)
	} else if dst, err = before.AppendJSON(dst); err != nil {
		return nil, err
	}
	dst = append(dst, `,"after":`...)
	if after == nil {
		dst = append(dst, "null"...)
	} else if dst, err = after.AppendJSON(dst); err != nil {
		return nil, err
	}
	return e.appendTail(dst, t, op, m), nil
}

// appendTail writes the envelope from the op on: op, ts_ms, source, and
// the closing brace.
func (e *encoder) appendTail(dst []byte, t *table, op connectors.Op, m *eventMeta) []byte {
	dst = append(dst, `,"op":"`...)
	dst = append(dst, op...)
	dst = append(dst, `","ts_ms":`...)
	dst = strconv.AppendInt(dst, m.now, 10)
	if e.nameJSON == nil {
		e.prepare() // tests that build encoders by hand; Open prepares before any goroutine
	}
	dst = append(dst, `,"source":{"connector":"postgresql","name":`...)
	dst = append(dst, e.nameJSON...)
	dst = append(dst, `,"ts_ms":`...)
	dst = strconv.AppendInt(dst, m.tsMs, 10)
	dst = append(dst, `,"snapshot":"`...)
	dst = append(dst, m.snapshot...)
	dst = append(dst, `","db":`...)
	dst = append(dst, e.dbJSON...)
	if t.srcJSON == nil {
		t.prepare()
	}
	dst = append(dst, t.srcJSON...)
	if m.txID >= 0 {
		dst = append(dst, `,"txId":`...)
		dst = strconv.AppendInt(dst, m.txID, 10)
	}
	dst = append(dst, `,"lsn":`...)
	dst = strconv.AppendInt(dst, m.lsn, 10)
	return append(dst, "}}"...)
}

// snapshotRecord builds the op "r" record of one snapshot row straight
// from its text values (nil: NULL), without an intermediate Row: the
// snapshot's hot path. Output is byte-identical to records() on the
// decoded row (TestAppendTextMatchesRow).
func (e *encoder) snapshotRecord(t *table, vals [][]byte, m *eventMeta, types typeResolver) connectors.Record {
	if t.colJSON == nil {
		t.prepare()
	}
	v := make([]byte, 0, 256+m.sizeHint+m.sizeHint/4+8*len(t.cols))
	v = append(v, `{"before":null,"after":{`...)
	var spans [8][2]int
	var more [][2]int
	for i, c := range t.cols {
		if i > 0 {
			v = append(v, ',')
		}
		v = append(v, t.colJSON[i]...)
		start := len(v)
		if vals[i] == nil {
			v = append(v, "null"...)
		} else {
			v = appendText(v, c.typ, c.typmod, vals[i], types)
		}
		if i < len(spans) {
			spans[i] = [2]int{start, len(v)}
		} else {
			more = append(more, [2]int{start, len(v)})
		}
	}
	v = append(v, '}')
	v = e.appendTail(v, t, connectors.OpRead, m)
	var key []byte
	if t.key != nil {
		key = make([]byte, 0, 32)
		key = append(key, '{')
		for j, ci := range t.keyIdx {
			if j > 0 {
				key = append(key, ',')
			}
			key = append(key, t.colJSON[ci]...)
			sp := [2]int{}
			if ci < len(spans) {
				sp = spans[ci]
			} else {
				sp = more[ci-len(spans)]
			}
			key = append(key, v[sp[0]:sp[1]]...)
		}
		key = append(key, '}')
	}
	return connectors.Record{Topic: t.topic, Partition: -1, Key: key, Value: v, Timestamp: time.UnixMilli(m.tsMs)}
}

func appendJSONString(dst []byte, s string) []byte {
	b, _ := connectors.Row{{Name: "", Value: s}}.AppendJSON(nil) // {"":"s"}
	return append(dst, b[4:len(b)-1]...)
}

// keyOf extracts the key columns of img in key order; nil for keyless tables.
func keyOf(t *table, img connectors.Row) connectors.Row {
	if t.key == nil {
		return nil
	}
	k := make(connectors.Row, 0, len(t.key))
	for _, name := range t.key {
		v, _ := img.Get(name)
		k = append(k, connectors.Column{Name: name, Value: v})
	}
	return k
}

// records appends the records of one change: c/u/r one record; d a record
// and a tombstone; an update that changed the key a delete of the old key
// (and its tombstone) and a create of the new one, as Debezium does, so
// compaction never keeps the old key alive.
func (e *encoder) records(dst []connectors.Record, t *table, op connectors.Op, before, after connectors.Row, m *eventMeta) ([]connectors.Record, error) {
	ts := time.UnixMilli(m.tsMs)
	one := func(op connectors.Op, before, after, key connectors.Row) error {
		var kb []byte
		if key != nil {
			var err error
			if kb, err = key.AppendJSON(nil); err != nil {
				return err
			}
		}
		v, err := e.appendEnvelope(make([]byte, 0, 256+m.sizeHint+m.sizeHint/4+8*len(t.cols)), t, op, before, after, m)
		if err != nil {
			return err
		}
		dst = append(dst, connectors.Record{Topic: t.topic, Partition: -1, Key: kb, Value: v, Timestamp: ts})
		if op == connectors.OpDelete && kb != nil {
			dst = append(dst, connectors.Record{Topic: t.topic, Partition: -1, Key: kb, Timestamp: ts})
		}
		return nil
	}
	switch op {
	case connectors.OpDelete:
		return dst, one(op, before, nil, keyOf(t, before))
	case connectors.OpUpdate:
		newKey := keyOf(t, after)
		if before != nil && t.key != nil {
			oldKey := keyOf(t, before)
			ob, _ := oldKey.AppendJSON(nil)
			nb, _ := newKey.AppendJSON(nil)
			if string(ob) != string(nb) && !hasUnavailable(oldKey) {
				if err := one(connectors.OpDelete, before, nil, oldKey); err != nil {
					return dst, err
				}
				return dst, one(connectors.OpCreate, nil, after, newKey)
			}
		}
		return dst, one(op, before, after, newKey)
	default:
		return dst, one(op, before, after, keyOf(t, after))
	}
}

func hasUnavailable(r connectors.Row) bool {
	for _, c := range r {
		if _, ok := c.Value.(unavailable); ok {
			return true
		}
	}
	return false
}

// unavailable marks an unchanged TOAST value in marker mode; it encodes as
// the marker string.
type unavailable string

func (u unavailable) MarshalJSON() ([]byte, error) { return appendJSONString(nil, string(u)), nil }

// truncateRecord is the op "t" event of one table. Its key is {} (compacted
// topics refuse null keys); before and after are null.
func (e *encoder) truncateRecord(t *table, m *eventMeta) (connectors.Record, error) {
	v, err := e.appendEnvelope(nil, t, connectors.OpTruncate, nil, nil, m)
	return connectors.Record{Topic: t.topic, Partition: -1, Key: []byte("{}"), Value: v, Timestamp: time.UnixMilli(m.tsMs)}, err
}
