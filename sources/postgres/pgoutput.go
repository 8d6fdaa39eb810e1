package postgres

import (
	"encoding/binary"
	"fmt"

	"github.com/sluicehq/sluice/connectors"
)

// tupleCol is one column of a pgoutput TupleData: kind 'n' (null), 'u'
// (unchanged TOAST), 't' (text) or 'b' (binary). data aliases the message.
type tupleCol struct {
	kind byte
	data []byte
}

// changeMsg is a decoded Insert, Update or Delete. old is nil when the
// message carries no old tuple; oldKind is 'K' (key columns only) or 'O'.
type changeMsg struct {
	typ     byte // 'I' 'U' 'D'
	relID   uint32
	oldKind byte
	old     []tupleCol
	new     []tupleCol
}

// parseChange decodes an 'I', 'U' or 'D' pgoutput message (protocol 1,
// whose layout 2 keeps for non-streamed transactions). cols is reused
// scratch space. It never panics on malformed input.
func parseChange(b []byte, scratch []tupleCol) (changeMsg, []tupleCol, error) {
	var m changeMsg
	if len(b) < 6 {
		return m, scratch, fmt.Errorf("message of %d bytes too short", len(b))
	}
	m.typ = b[0]
	m.relID = binary.BigEndian.Uint32(b[1:5])
	p := 5
	var err error
	readTuple := func() ([]tupleCol, error) {
		if p+2 > len(b) {
			return nil, fmt.Errorf("tuple header past end at %d", p)
		}
		n := int(binary.BigEndian.Uint16(b[p:]))
		p += 2
		start := len(scratch)
		for i := 0; i < n; i++ {
			if p >= len(b) {
				return nil, fmt.Errorf("column %d past end", i)
			}
			c := tupleCol{kind: b[p]}
			p++
			switch c.kind {
			case 'n', 'u':
			case 't', 'b':
				if p+4 > len(b) {
					return nil, fmt.Errorf("column %d length past end", i)
				}
				l := int(binary.BigEndian.Uint32(b[p:]))
				p += 4
				if l < 0 || l > len(b)-p {
					return nil, fmt.Errorf("column %d: length %d past end", i, l)
				}
				c.data = b[p : p+l : p+l]
				p += l
			default:
				return nil, fmt.Errorf("column %d: unknown kind %q", i, c.kind)
			}
			scratch = append(scratch, c)
		}
		return scratch[start:len(scratch):len(scratch)], nil
	}
	switch m.typ {
	case 'I':
		if b[p] != 'N' {
			return m, scratch, fmt.Errorf("insert: tuple marker %q", b[p])
		}
		p++
		m.new, err = readTuple()
	case 'U':
		if b[p] == 'K' || b[p] == 'O' {
			m.oldKind = b[p]
			p++
			if m.old, err = readTuple(); err != nil {
				return m, scratch, err
			}
		}
		if p >= len(b) || b[p] != 'N' {
			return m, scratch, fmt.Errorf("update: missing new tuple")
		}
		p++
		m.new, err = readTuple()
	case 'D':
		if b[p] != 'K' && b[p] != 'O' {
			return m, scratch, fmt.Errorf("delete: tuple marker %q", b[p])
		}
		m.oldKind = b[p]
		p++
		m.old, err = readTuple()
	default:
		return m, scratch, fmt.Errorf("not a change message: %q", m.typ)
	}
	if err == nil && p != len(b) {
		err = fmt.Errorf("%d trailing bytes", len(b)-p)
	}
	return m, scratch, err
}

// relation is a Relation message resolved against a captured table.
type relation struct {
	t      *table
	name   string // schema.table as the Relation message names it
	outbox bool   // the outbox table: inserts route through the router
	cols   []column
}

// imageFrom turns a tuple into a row image. keyOnly (an old tuple of kind
// 'K') keeps only the replica identity's columns, the ones it carries. Unchanged TOAST columns get the marker
// or are left out, as configured.
func (s *Source) imageFrom(rel *relation, tuple []tupleCol, keyOnly bool) (connectors.Row, error) {
	if len(tuple) != len(rel.cols) {
		return nil, fmt.Errorf("table %s: tuple has %d columns, relation %d", rel.name, len(tuple), len(rel.cols))
	}
	img := make(connectors.Row, 0, len(tuple))
	for i, c := range tuple {
		col := &rel.cols[i]
		if keyOnly && !col.ident && !col.isKey {
			continue
		}
		var v any
		switch c.kind {
		case 'n':
		case 'u':
			if s.cfg.Toast == ToastOmit {
				continue
			}
			v = unavailable(s.cfg.ToastMarkerValue)
		case 't':
			v = decodeText(col.typ, col.typmod, c.data, s.types)
		case 'b':
			v = append([]byte(nil), c.data...) // binary mode is never requested
		}
		img = append(img, connectors.Column{Name: col.name, Value: v})
	}
	return img, nil
}
