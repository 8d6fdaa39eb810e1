package postgres

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"
)

// Built-in type OIDs decoded without a catalog lookup.
const (
	oidBool        = 16
	oidBytea       = 17
	oidChar        = 18
	oidName        = 19
	oidInt8        = 20
	oidInt2        = 21
	oidInt4        = 23
	oidText        = 25
	oidOID         = 26
	oidJSON        = 114
	oidXML         = 142
	oidCIDR        = 650
	oidFloat4      = 700
	oidFloat8      = 701
	oidMoney       = 790
	oidMacaddr     = 829
	oidInet        = 869
	oidBpchar      = 1042
	oidVarchar     = 1043
	oidDate        = 1082
	oidTime        = 1083
	oidTimestamp   = 1114
	oidTimestamptz = 1184
	oidInterval    = 1186
	oidTimetz      = 1266
	oidBit         = 1560
	oidVarbit      = 1562
	oidNumeric     = 1700
	oidUUID        = 2950
	oidJSONB       = 3802
	oidMacaddr8    = 774
)

// typeKind is how a type's text form maps to JSON (TYPES.md).
type typeKind uint8

const (
	kindString typeKind = iota // text as a JSON string
	kindOther                  // text as a JSON string, with a warning once per type
	kindBool
	kindInt   // exact number
	kindFloat // number, NaN/Infinity as strings
	kindBytea
	kindBit
	kindDate
	kindTimestamp
	kindTimestamptz
	kindTime
	kindTimetz
	kindInterval
	kindJSON
	kindArray
)

// typeInfo describes one type OID.
type typeInfo struct {
	oid   uint32
	name  string
	kind  typeKind
	elem  uint32 // kindArray: element type
	delim byte   // kindArray: element delimiter
}

var builtinKinds = map[uint32]typeKind{
	oidBool: kindBool, oidBytea: kindBytea, oidChar: kindString, oidName: kindString,
	oidInt8: kindInt, oidInt2: kindInt, oidInt4: kindInt, oidText: kindString, oidOID: kindInt,
	oidJSON: kindJSON, oidJSONB: kindJSON, oidXML: kindString, oidCIDR: kindString, oidInet: kindString,
	oidFloat4: kindFloat, oidFloat8: kindFloat, oidMoney: kindString, oidMacaddr: kindString,
	oidMacaddr8: kindString, oidBpchar: kindString, oidVarchar: kindString, oidDate: kindDate,
	oidTime: kindTime, oidTimestamp: kindTimestamp, oidTimestamptz: kindTimestamptz,
	oidInterval: kindInterval, oidTimetz: kindTimetz, oidBit: kindBit, oidVarbit: kindBit,
	oidNumeric: kindString, oidUUID: kindString,
}

// typeResolver finds typeInfo for OIDs not built in (enums, domains, arrays,
// extension types). The Source implements it over pg_type; tests use a map.
type typeResolver interface {
	resolve(oid uint32) *typeInfo
}

// decodeText turns one column's text form (pgoutput 't' data, or a
// text-format result column) into a JSON-ready value for connectors.Row.
// typmod is the column's atttypmod (bit(n): n). It never fails: a value it
// cannot map is carried as its text form (warn reports the type once).
func decodeText(ti *typeInfo, typmod int32, data []byte, types typeResolver) any {
	switch ti.kind {
	case kindBool:
		return len(data) > 0 && data[0] == 't'
	case kindInt:
		if isInteger(data) && isJSONNumber(data) {
			return json.Number(data)
		}
		return string(data)
	case kindFloat:
		if isJSONNumber(data) {
			return json.Number(data)
		}
		return string(data) // NaN, Infinity, -Infinity
	case kindBytea:
		if b, ok := decodeBytea(data); ok {
			return b
		}
		return string(data)
	case kindBit:
		return decodeBit(data, typmod)
	case kindTimestamp:
		return timestampISO(data)
	case kindTimestamptz:
		return timestamptzRFC3339(data)
	case kindTimetz:
		return timetzUTC(data)
	case kindJSON:
		if json.Valid(data) {
			return json.RawMessage(append([]byte(nil), data...))
		}
		return string(data)
	case kindArray:
		elem := types.resolve(ti.elem)
		v, ok := parseArray(string(data), ti.delim, func(s string) any {
			return decodeText(elem, -1, []byte(s), types)
		})
		if !ok {
			return string(data)
		}
		return v
	default: // string, date, time, interval, other
		return string(data)
	}
}

func isInteger(b []byte) bool {
	if len(b) == 0 {
		return false
	}
	i := 0
	if b[0] == '-' {
		i = 1
	}
	if i == len(b) {
		return false
	}
	for ; i < len(b); i++ {
		if b[i] < '0' || b[i] > '9' {
			return false
		}
	}
	return true
}

// isJSONNumber reports whether b is a JSON number literal.
func isJSONNumber(b []byte) bool {
	i, n := 0, len(b)
	if i < n && b[i] == '-' {
		i++
	}
	if i >= n {
		return false
	}
	if b[i] == '0' {
		i++
	} else if b[i] >= '1' && b[i] <= '9' {
		for i < n && b[i] >= '0' && b[i] <= '9' {
			i++
		}
	} else {
		return false
	}
	if i < n && b[i] == '.' {
		i++
		if i >= n || b[i] < '0' || b[i] > '9' {
			return false
		}
		for i < n && b[i] >= '0' && b[i] <= '9' {
			i++
		}
	}
	if i < n && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < n && (b[i] == '+' || b[i] == '-') {
			i++
		}
		if i >= n || b[i] < '0' || b[i] > '9' {
			return false
		}
		for i < n && b[i] >= '0' && b[i] <= '9' {
			i++
		}
	}
	return i == n
}

// decodeBytea decodes bytea's hex text form (\x0102...).
func decodeBytea(data []byte) ([]byte, bool) {
	if len(data) < 2 || data[0] != '\\' || data[1] != 'x' {
		return nil, false
	}
	out := make([]byte, hex.DecodedLen(len(data)-2))
	if _, err := hex.Decode(out, data[2:]); err != nil {
		return nil, false
	}
	return out, true
}

// decodeBit maps bit(1) to a boolean and longer bit strings to the
// big-endian bytes of their value, left-padded to whole bytes.
func decodeBit(data []byte, typmod int32) any {
	for _, c := range data {
		if c != '0' && c != '1' {
			return string(data)
		}
	}
	if typmod == 1 && len(data) == 1 {
		return data[0] == '1'
	}
	n := (len(data) + 7) / 8
	out := make([]byte, n)
	pad := n*8 - len(data)
	for i, c := range data {
		if c == '1' {
			bit := pad + i
			out[bit/8] |= 0x80 >> (bit % 8)
		}
	}
	return out
}

// timestamptzRFC3339 turns "2024-01-02 03:04:05.5+00" (TimeZone=UTC) into
// "2024-01-02T03:04:05.5Z". Other offsets (a session not in UTC) keep their
// offset as ±hh:mm; infinity and BC dates stay as PG writes them.
func timestamptzRFC3339(data []byte) string {
	if len(data) < 19 || data[10] != ' ' || bytes.HasSuffix(data, []byte(" BC")) {
		return string(data)
	}
	i := bytes.LastIndexAny(data, "+-")
	var b strings.Builder
	b.Grow(len(data) + 3)
	b.Write(data[:10])
	b.WriteByte('T')
	if i < 19 {
		b.Write(data[11:])
		return b.String()
	}
	switch off := string(data[i:]); {
	case off == "+00" || off == "-00" || off == "+00:00":
		b.Write(data[11:i])
		b.WriteByte('Z')
	case len(off) == 3:
		b.Write(data[11:])
		b.WriteString(":00")
	default:
		b.Write(data[11:])
	}
	return b.String()
}

// timestampISO turns "2024-01-02 03:04:05.5" into "2024-01-02T03:04:05.5".
func timestampISO(data []byte) string {
	if len(data) < 11 || data[10] != ' ' {
		return string(data)
	}
	var b strings.Builder
	b.Grow(len(data))
	b.Write(data[:10])
	b.WriteByte('T')
	b.Write(data[11:])
	return b.String()
}

// timetzUTC turns "03:04:05.5+02" into "01:04:05.5Z" (Debezium's ZonedTime
// normalizes to UTC); an unparsable form stays as is.
func timetzUTC(data []byte) string {
	s := string(data)
	i := strings.LastIndexAny(s, "+-")
	if i < 8 {
		return s
	}
	clock, off := s[:i], s[i:]
	var h, m, sec int
	if _, err := fmt.Sscanf(clock[:8], "%2d:%2d:%2d", &h, &m, &sec); err != nil {
		return s
	}
	var oh, om, os int
	parts := strings.Split(off[1:], ":")
	for j, p := range parts {
		var v int
		if _, err := fmt.Sscanf(p, "%d", &v); err != nil {
			return s
		}
		switch j {
		case 0:
			oh = v
		case 1:
			om = v
		case 2:
			os = v
		}
	}
	total := h*3600 + m*60 + sec
	offset := oh*3600 + om*60 + os
	if off[0] == '+' {
		total -= offset
	} else {
		total += offset
	}
	total = ((total % 86400) + 86400) % 86400
	return fmt.Sprintf("%02d:%02d:%02d%sZ", total/3600, total/60%60, total%60, clock[8:])
}

// parseArray parses PG's array text form ({a,"b c",NULL,{1,2}}) into nested
// []any, decoding each element with elem. ok is false on malformed input.
func parseArray(s string, delim byte, elem func(string) any) (v any, ok bool) {
	if delim == 0 {
		delim = ','
	}
	// Skip an explicit dimension decoration: [1:2]={...}.
	if strings.HasPrefix(s, "[") {
		i := strings.Index(s, "=")
		if i < 0 {
			return nil, false
		}
		s = s[i+1:]
	}
	p := arrayParser{s: s, delim: delim, elem: elem}
	v, ok = p.parse()
	if !ok || p.i != len(p.s) {
		return nil, false
	}
	return v, true
}

type arrayParser struct {
	s     string
	i     int
	delim byte
	elem  func(string) any
}

func (p *arrayParser) parse() (any, bool) {
	if p.i >= len(p.s) || p.s[p.i] != '{' {
		return nil, false
	}
	p.i++
	out := []any{}
	if p.i < len(p.s) && p.s[p.i] == '}' {
		p.i++
		return out, true
	}
	for {
		if p.i >= len(p.s) {
			return nil, false
		}
		switch c := p.s[p.i]; {
		case c == '{':
			v, ok := p.parse()
			if !ok {
				return nil, false
			}
			out = append(out, v)
		case c == '"':
			p.i++
			var b strings.Builder
			for {
				if p.i >= len(p.s) {
					return nil, false
				}
				c := p.s[p.i]
				if c == '\\' {
					if p.i+1 >= len(p.s) {
						return nil, false
					}
					b.WriteByte(p.s[p.i+1])
					p.i += 2
					continue
				}
				p.i++
				if c == '"' {
					break
				}
				b.WriteByte(c)
			}
			out = append(out, p.elem(b.String()))
		default:
			start := p.i
			for p.i < len(p.s) && p.s[p.i] != p.delim && p.s[p.i] != '}' {
				p.i++
			}
			tok := strings.TrimSpace(p.s[start:p.i])
			if tok == "" {
				return nil, false
			}
			if tok == "NULL" {
				out = append(out, nil)
			} else {
				out = append(out, p.elem(tok))
			}
		}
		if p.i >= len(p.s) {
			return nil, false
		}
		switch p.s[p.i] {
		case p.delim:
			p.i++
		case '}':
			p.i++
			return out, true
		default:
			return nil, false
		}
	}
}
