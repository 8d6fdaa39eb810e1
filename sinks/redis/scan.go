package redis

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"strconv"
	"unicode/utf8"

	"github.com/sluicehq/sluice/connectors"
)

// This file is the fast path of record decoding: one allocation-free pass
// over an envelope that validates the whole document and picks out what the
// sink uses. It answers only when it is sure to agree with
// connectors.DecodeEnvelope (FuzzScanEnvelope checks that); anything
// unusual (escaped or case-variant field names, duplicate fields, numbers
// encoding/json would refuse for a field, deep nesting) returns ok=false
// and the caller takes the slow path.

// scanned is what the sink needs of an envelope.
type scanned struct {
	op     connectors.Op
	before []byte // raw JSON value, nil when absent
	after  []byte
	table  string
}

const maxDepth = 1000 // deeper documents take the slow path

type scanner struct {
	b   []byte
	i   int
	bad bool // the document is not what the fast path decides
}

func (s *scanner) ws() {
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

// str scans a string at s.i and returns its contents (raw, undecoded) and
// whether it held escapes.
func (s *scanner) str() (raw []byte, escaped bool) {
	if s.i >= len(s.b) || s.b[s.i] != '"' {
		s.bad = true
		return nil, false
	}
	s.i++
	start := s.i
	for s.i < len(s.b) {
		// Skip 8 plain bytes at a time (no '"', '\\' or control byte).
		for s.i+8 <= len(s.b) && !special8(binary.LittleEndian.Uint64(s.b[s.i:])) {
			s.i += 8
		}
		if s.i >= len(s.b) {
			break
		}
		c := s.b[s.i]
		switch {
		case c == '"':
			raw = s.b[start:s.i]
			s.i++
			return raw, escaped
		case c == '\\':
			escaped = true
			s.i++
			if s.i >= len(s.b) {
				s.bad = true
				return nil, false
			}
			switch s.b[s.i] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				s.i++
			case 'u':
				if s.i+5 > len(s.b) {
					s.bad = true
					return nil, false
				}
				for _, h := range s.b[s.i+1 : s.i+5] {
					if !isHex(h) {
						s.bad = true
						return nil, false
					}
				}
				s.i += 5
			default:
				s.bad = true
				return nil, false
			}
		case c < 0x20:
			s.bad = true
			return nil, false
		default:
			s.i++
		}
	}
	s.bad = true
	return nil, false
}

const (
	lo8 = 0x0101010101010101
	hi8 = 0x8080808080808080
)

// special8 reports whether any byte of w is '"', '\\' or below 0x20
// (SWAR: a byte is zero iff (x-1) & ^x has its high bit set).
func special8(w uint64) bool {
	q, bs := w^('"'*lo8), w^('\\'*lo8)
	return ((q-lo8)&^q|(bs-lo8)&^bs|(w-0x20*lo8)&^w)&hi8 != 0
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

// num scans a number and reports whether it is a plain integer.
func (s *scanner) num() (integer bool) {
	start := s.i
	if s.i < len(s.b) && s.b[s.i] == '-' {
		s.i++
	}
	switch {
	case s.i < len(s.b) && s.b[s.i] == '0':
		s.i++
	case s.i < len(s.b) && '1' <= s.b[s.i] && s.b[s.i] <= '9':
		for s.i < len(s.b) && '0' <= s.b[s.i] && s.b[s.i] <= '9' {
			s.i++
		}
	default:
		s.bad = true
		return false
	}
	integer = true
	if s.i < len(s.b) && s.b[s.i] == '.' {
		integer = false
		s.i++
		if !s.digits() {
			return false
		}
	}
	if s.i < len(s.b) && (s.b[s.i] == 'e' || s.b[s.i] == 'E') {
		integer = false
		s.i++
		if s.i < len(s.b) && (s.b[s.i] == '+' || s.b[s.i] == '-') {
			s.i++
		}
		if !s.digits() {
			return false
		}
	}
	if integer {
		if _, err := strconv.ParseInt(string(s.b[start:s.i]), 10, 64); err != nil {
			integer = false // out of int64: Unmarshal into int64 refuses it
		}
	}
	return integer
}

func (s *scanner) digits() bool {
	start := s.i
	for s.i < len(s.b) && '0' <= s.b[s.i] && s.b[s.i] <= '9' {
		s.i++
	}
	if s.i == start {
		s.bad = true
		return false
	}
	return true
}

func (s *scanner) lit(word string) {
	if !bytes.HasPrefix(s.b[s.i:], []byte(word)) {
		s.bad = true
		return
	}
	s.i += len(word)
}

// value skips any JSON value and returns its kind: '{', '[', '"', '0'
// (integer), '1' (other number), 't', 'f', 'n'.
func (s *scanner) value(depth int) byte {
	s.ws()
	if s.i >= len(s.b) || depth > maxDepth {
		s.bad = true
		return 0
	}
	switch c := s.b[s.i]; c {
	case '{':
		s.i++
		s.ws()
		if s.i < len(s.b) && s.b[s.i] == '}' {
			s.i++
			return c
		}
		for !s.bad {
			s.ws()
			s.str()
			s.ws()
			if s.i >= len(s.b) || s.b[s.i] != ':' {
				s.bad = true
				break
			}
			s.i++
			s.value(depth + 1)
			if s.end('}') {
				break
			}
		}
		return c
	case '[':
		s.i++
		s.ws()
		if s.i < len(s.b) && s.b[s.i] == ']' {
			s.i++
			return c
		}
		for !s.bad {
			s.value(depth + 1)
			if s.end(']') {
				break
			}
		}
		return c
	case '"':
		s.str()
		return c
	case 't':
		s.lit("true")
		return c
	case 'f':
		s.lit("false")
		return c
	case 'n':
		s.lit("null")
		return c
	default:
		if s.num() {
			return '0'
		}
		return '1'
	}
}

// end consumes the separator after a member: ',' (false) or close (true).
func (s *scanner) end(close byte) bool {
	s.ws()
	if s.i >= len(s.b) {
		s.bad = true
		return true
	}
	switch s.b[s.i] {
	case ',':
		s.i++
		return false
	case close:
		s.i++
		return true
	}
	s.bad = true
	return true
}

// object scans an object, calling member for each name (raw, unescaped
// names only: an escaped name makes the scan bad).
func (s *scanner) object(member func(name []byte)) {
	s.ws()
	if s.i >= len(s.b) || s.b[s.i] != '{' {
		s.bad = true
		return
	}
	s.i++
	s.ws()
	if s.i < len(s.b) && s.b[s.i] == '}' {
		s.i++
		return
	}
	for !s.bad {
		s.ws()
		name, esc := s.str()
		if esc {
			s.bad = true
		}
		s.ws()
		if s.bad || s.i >= len(s.b) || s.b[s.i] != ':' {
			s.bad = true
			return
		}
		s.i++
		s.ws()
		member(name)
		if s.bad || s.end('}') {
			return
		}
	}
}

// fieldKind is how encoding/json decodes a known field.
type fieldKind uint8

const (
	kRaw fieldKind = iota // json.RawMessage: any value
	kString
	kInt
	kObject // a struct: object or null
)

type field struct {
	name string
	kind fieldKind
}

var envelopeFields = []field{
	{"before", kRaw}, {"after", kRaw}, {"op", kString}, {"ts_ms", kInt}, {"source", kObject},
}

var sourceFields = []field{
	{"version", kString}, {"connector", kString}, {"name", kString}, {"ts_ms", kInt},
	{"snapshot", kString}, {"db", kString}, {"sequence", kString}, {"schema", kString},
	{"table", kString}, {"txId", kInt}, {"lsn", kInt}, {"xmin", kInt}, {"server_id", kInt},
	{"gtid", kString}, {"file", kString}, {"pos", kInt}, {"row", kInt}, {"thread", kInt},
}

// checkName reports the kind of a member name, whether it is a known
// field, and whether the fast path may go on: a known field must be
// spelled exactly and appear once (seen is a bit set over known), since
// encoding/json matches names case-insensitively (with Unicode folding:
// any non-ASCII name is left to it) and lets the last duplicate win.
func checkName(name []byte, known []field, seen *uint32) (k fieldKind, isKnown, safe bool) {
	for _, c := range name {
		if c >= utf8.RuneSelf {
			return 0, false, false
		}
	}
	for j, f := range known {
		if len(f.name) != len(name) {
			continue
		}
		if string(name) == f.name {
			if *seen&(1<<j) != 0 {
				return 0, false, false
			}
			*seen |= 1 << j
			return f.kind, true, true
		}
		if bytes.EqualFold(name, []byte(f.name)) {
			return 0, false, false
		}
	}
	return 0, false, true
}

// typed scans a value that encoding/json decodes into a field of kind k,
// and reports false when Unmarshal would refuse it (the slow path decides).
func (s *scanner) typed(k fieldKind) (start, end int, ok bool) {
	start = s.i
	c := s.value(0)
	end = s.i
	if s.bad {
		return start, end, false
	}
	switch k {
	case kString:
		return start, end, c == '"' || c == 'n'
	case kInt:
		return start, end, c == '0' || c == 'n'
	}
	return start, end, true
}

// scanEnvelope is the fast path of connectors.DecodeEnvelope; see the file
// comment. ok=false means "ask DecodeEnvelope".
func scanEnvelope(v []byte, names map[string]string) (e scanned, ok bool) {
	s := &scanner{b: v}
	var seen [2]uint32
	var opRaw []byte
	opSet := false
	s.object(func(name []byte) {
		k, known, safe := checkName(name, envelopeFields, &seen[0])
		if !safe {
			s.bad = true
			return
		}
		if !known {
			s.value(0)
			return
		}
		switch string(name) {
		case "source":
			s.ws()
			if s.i < len(s.b) && s.b[s.i] == 'n' {
				s.lit("null")
				return
			}
			s.object(func(name []byte) {
				k, known, safe := checkName(name, sourceFields, &seen[1])
				if !safe {
					s.bad = true
					return
				}
				if !known {
					s.value(0)
					return
				}
				a, b, ok := s.typed(k)
				if !ok {
					s.bad = true
					return
				}
				if string(name) == "table" {
					raw := s.b[a:b]
					if raw[0] == 'n' {
						e.table = ""
						return
					}
					raw = raw[1 : len(raw)-1]
					if bytes.IndexByte(raw, '\\') >= 0 || !utf8.Valid(raw) {
						s.bad = true
						return
					}
					e.table = intern(names, raw)
				}
			})
		default:
			a, b, ok := s.typed(k)
			if !ok {
				s.bad = true
				return
			}
			raw := s.b[a:b]
			switch string(name) {
			case "before":
				e.before = raw
			case "after":
				e.after = raw
			case "op":
				if raw[0] == '"' {
					opRaw, opSet = raw[1:len(raw)-1], true
				}
			}
		}
	})
	s.ws()
	if s.bad || s.i != len(s.b) {
		return scanned{}, false
	}
	if !opSet {
		return scanned{}, false
	}
	switch string(opRaw) { // constants: no allocation per record
	case "r":
		e.op = connectors.OpRead
	case "c":
		e.op = connectors.OpCreate
	case "u":
		e.op = connectors.OpUpdate
	case "d":
		e.op = connectors.OpDelete
	case "t":
		e.op = connectors.OpTruncate
	default:
		return scanned{}, false
	}
	return e, true
}

// scanKey is the fast path of connectors.ParseRow for record keys: an
// object of integers and plain ASCII strings. ok=false means "ask
// ParseRow".
func scanKey(v []byte) (connectors.Row, bool) {
	s := &scanner{b: v}
	row := make(connectors.Row, 0, 2)
	s.object(func(name []byte) {
		if !isPlainASCII(name) {
			s.bad = true
			return
		}
		start := s.i
		kind := s.value(0)
		if s.bad {
			return
		}
		switch kind {
		case '0':
			row = append(row, connectors.Column{Name: string(name), Value: json.Number(s.b[start:s.i])})
		case '"':
			raw := s.b[start+1 : s.i-1]
			if !isPlainASCII(raw) {
				s.bad = true
				return
			}
			row = append(row, connectors.Column{Name: string(name), Value: string(raw)})
		default:
			s.bad = true
		}
	})
	s.ws()
	if s.bad || s.i != len(s.b) || len(row) == 0 {
		return nil, false
	}
	return row, true
}

func isPlainASCII(b []byte) bool {
	for _, c := range b {
		if c < 0x20 || c >= utf8.RuneSelf || c == '\\' {
			return false
		}
	}
	return true
}

// intern returns b as a string, from names when it is there: a batch names
// few tables, so the conversion happens once per name, not per record.
// names is bounded; beyond 1024 names it only converts.
func intern(names map[string]string, b []byte) string {
	if v, ok := names[string(b)]; ok { // the lookup does not allocate
		return v
	}
	s := string(b)
	if names != nil && len(names) < 1024 {
		names[s] = s
	}
	return s
}

// appendKeyID appends connectors.KeyID of a record key to dst without
// building a Row: for keys whose values are integers and plain ASCII
// strings. ok=false means "take the Row path".
func appendKeyID(dst, v []byte) ([]byte, bool) {
	s := &scanner{b: v}
	n := 0
	s.object(func(name []byte) {
		if !isPlainASCII(name) {
			s.bad = true
			return
		}
		start := s.i
		kind := s.value(0)
		if s.bad {
			return
		}
		if n > 0 {
			dst = append(dst, ':')
		}
		n++
		switch kind {
		case '0':
			dst = append(dst, s.b[start:s.i]...)
		case '"':
			raw := s.b[start+1 : s.i-1]
			if !isPlainASCII(raw) {
				s.bad = true
				return
			}
			for _, c := range raw {
				if c == ':' || c == '\\' {
					dst = append(dst, '\\')
				}
				dst = append(dst, c)
			}
		default:
			s.bad = true
		}
	})
	s.ws()
	if s.bad || s.i != len(s.b) || n == 0 {
		return dst, false
	}
	return dst, true
}

// scanHashFields is the fast path of hash mode's image decoding: the
// field/value pairs (values as []byte into after) and the TOAST-marked
// columns of a flat image whose names and strings hold no escapes.
// Nested objects and arrays (which the slow path re-encodes) and anything
// unusual return ok=false.
func scanHashFields(after []byte) (fields []any, toast []string, ok bool) {
	s := &scanner{b: after}
	fields = make([]any, 0, 16)
	s.object(func(name []byte) {
		if bytes.IndexByte(name, '\\') >= 0 || !utf8.Valid(name) {
			s.bad = true
			return
		}
		start := s.i
		kind := s.value(0)
		if s.bad {
			return
		}
		raw := s.b[start:s.i]
		switch kind {
		case 'n':
			return // NULL: the script deletes the field
		case '"':
			raw = raw[1 : len(raw)-1]
			if bytes.IndexByte(raw, '\\') >= 0 || !utf8.Valid(raw) {
				s.bad = true
				return
			}
			if string(raw) == unavailable {
				toast = append(toast, string(name))
				return
			}
		case '{', '[':
			s.bad = true
			return
		}
		fields = append(fields, name, raw)
	})
	s.ws()
	if s.bad || s.i != len(s.b) {
		return nil, nil, false
	}
	return fields, toast, true
}
