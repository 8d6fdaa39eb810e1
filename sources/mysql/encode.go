package mysql

import (
	"strconv"
	"time"

	"github.com/sluicehq/sluice/connectors"
)

// table is a captured table as the encoder sees it. Its schema is replaced
// (never mutated) after DDL.
type table struct {
	s     *tableSchema
	topic string
	src   []byte // `"db":"..","table":".."` of the source block
}

func newTable(prefix string, s *tableSchema) *table {
	b, _ := connectors.Row{{Name: "db", Value: s.DB}, {Name: "table", Value: s.Name}}.AppendJSON(nil)
	src := b[1 : len(b)-1] // drop the braces
	return &table{s: s, topic: prefix + "." + s.DB + "." + s.Name, src: src}
}

// srcInfo is the position part of one event's source block.
type srcInfo struct {
	tsMs     int64
	snapshot string // true | last | false
	serverID uint32
	gtid     string
	file     string
	pos      uint32
	row      int
	thread   int64 // < 0: unknown
}

// encoder turns row images into records. Not safe for concurrent use: each
// goroutine that encodes owns one (it keeps scratch rows).
type encoder struct {
	name    []byte // the topic prefix as a JSON string
	scratch connectors.Row
	key     connectors.Row
	size    int // last value's length: sizes the next one's buffer
}

func newEncoder(prefix string) *encoder {
	n, _ := connectors.Row{{Name: "n", Value: prefix}}.AppendJSON(nil)
	return &encoder{name: n[5 : len(n)-1]}
}

// image fills the scratch row from vals (already mapped values).
func (e *encoder) appendImage(dst []byte, t *table, vals []any) ([]byte, error) {
	if vals == nil {
		return append(dst, "null"...), nil
	}
	e.scratch = e.scratch[:0]
	for i := range t.s.Cols {
		e.scratch = append(e.scratch, connectors.Column{Name: t.s.Cols[i].Name, Value: vals[i]})
	}
	return e.scratch.AppendJSON(dst)
}

func (e *encoder) keyOf(t *table, vals []any) ([]byte, error) {
	e.key = e.key[:0]
	for _, k := range t.s.Key {
		e.key = append(e.key, connectors.Column{Name: t.s.Cols[k].Name, Value: vals[k]})
	}
	return e.key.AppendJSON(make([]byte, 0, 16))
}

// encode appends the record(s) of one change to recs: a delete is followed
// by its tombstone; a truncate (op t) has key {} and no images.
func (e *encoder) encode(recs []connectors.Record, t *table, op connectors.Op, before, after []any, si *srcInfo) ([]connectors.Record, error) {
	keyVals := after
	if op == connectors.OpDelete {
		keyVals = before
	}
	var key []byte
	var err error
	if op == connectors.OpTruncate { // no row: key {}, both images null
		key = []byte("{}")
	} else if key, err = e.keyOf(t, keyVals); err != nil {
		return recs, err
	}
	now := time.Now()
	v := make([]byte, 0, max(e.size+e.size/8, 256))
	v = append(v, `{"before":`...)
	if v, err = e.appendImage(v, t, before); err != nil {
		return recs, err
	}
	v = append(v, `,"after":`...)
	if v, err = e.appendImage(v, t, after); err != nil {
		return recs, err
	}
	v = append(v, `,"op":"`...)
	v = append(v, op...)
	v = append(v, `","ts_ms":`...)
	v = strconv.AppendInt(v, now.UnixMilli(), 10)
	v = append(v, `,"source":{"connector":"mysql","name":`...)
	v = append(v, e.name...)
	v = append(v, `,"ts_ms":`...)
	v = strconv.AppendInt(v, si.tsMs, 10)
	v = append(v, `,"snapshot":"`...)
	v = append(v, si.snapshot...)
	v = append(v, `",`...)
	v = append(v, t.src...)
	v = append(v, `,"server_id":`...)
	v = strconv.AppendUint(v, uint64(si.serverID), 10)
	if si.gtid != "" {
		v = append(v, `,"gtid":"`...)
		v = append(v, si.gtid...) // digits, hex, '-' and ':' only
		v = append(v, '"')
	}
	if si.file != "" {
		v = append(v, `,"file":"`...)
		v = append(v, si.file...) // binlog base names need no escaping
		v = append(v, `","pos":`...)
		v = strconv.AppendUint(v, uint64(si.pos), 10)
	}
	v = append(v, `,"row":`...)
	v = strconv.AppendInt(v, int64(si.row), 10)
	if si.thread >= 0 {
		v = append(v, `,"thread":`...)
		v = strconv.AppendInt(v, si.thread, 10)
	}
	v = append(v, "}}"...)
	e.size = len(v)
	recs = append(recs, connectors.Record{Topic: t.topic, Partition: -1, Key: key, Value: v, Timestamp: now})
	if op == connectors.OpDelete {
		recs = append(recs, connectors.Record{Topic: t.topic, Partition: -1, Key: key, Timestamp: now})
	}
	return recs, nil
}
