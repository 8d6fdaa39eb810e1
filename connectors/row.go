package connectors

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Column is one named value of a Row.
//
// Value holds a JSON-ready Go value: nil, bool, string, int64, uint64,
// float64, json.Number (exact numerics), json.RawMessage (embedded JSON),
// []byte (written as base64), []any (arrays), Row (nested object), or
// anything encoding/json accepts.
type Column struct {
	Name  string
	Value any
}

// Row is an ordered set of columns: a key (primary-key columns in key order)
// or an image (the table's columns in table order). It encodes as a JSON
// object in that order, which is what keeps `{"id":42}` byte-identical for
// the same key, and so in the same partition, on every run.
type Row []Column

// Get returns the value of the column named name.
func (r Row) Get(name string) (any, bool) {
	for _, c := range r {
		if c.Name == name {
			return c.Value, true
		}
	}
	return nil, false
}

// MarshalJSON encodes r as a JSON object in column order.
func (r Row) MarshalJSON() ([]byte, error) { return r.AppendJSON(nil) }

// AppendJSON appends r as a JSON object to dst. It avoids reflection for the
// value types sources produce, since it runs once per captured row.
func (r Row) AppendJSON(dst []byte) ([]byte, error) {
	dst = append(dst, '{')
	for i, c := range r {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = appendString(dst, c.Name)
		dst = append(dst, ':')
		var err error
		if dst, err = appendValue(dst, c.Value); err != nil {
			return nil, fmt.Errorf("column %s: %w", c.Name, err)
		}
	}
	return append(dst, '}'), nil
}

func appendValue(dst []byte, v any) ([]byte, error) {
	switch v := v.(type) {
	case nil:
		return append(dst, "null"...), nil
	case bool:
		return strconv.AppendBool(dst, v), nil
	case string:
		return appendString(dst, v), nil
	case int64:
		return strconv.AppendInt(dst, v, 10), nil
	case int32:
		return strconv.AppendInt(dst, int64(v), 10), nil
	case int:
		return strconv.AppendInt(dst, int64(v), 10), nil
	case uint64:
		return strconv.AppendUint(dst, v, 10), nil
	case float64:
		return appendFloat(dst, v, 64), nil
	case float32:
		return appendFloat(dst, float64(v), 32), nil
	case json.Number:
		if v == "" {
			return append(dst, '0'), nil
		}
		return append(dst, v...), nil
	case json.RawMessage:
		if len(v) == 0 {
			return append(dst, "null"...), nil
		}
		return append(dst, v...), nil
	case []byte:
		dst = append(dst, '"')
		dst = base64.StdEncoding.AppendEncode(dst, v)
		return append(dst, '"'), nil
	case Row:
		return v.AppendJSON(dst)
	case []any:
		dst = append(dst, '[')
		for i, e := range v {
			if i > 0 {
				dst = append(dst, ',')
			}
			var err error
			if dst, err = appendValue(dst, e); err != nil {
				return nil, err
			}
		}
		return append(dst, ']'), nil
	default:
		b, err := json.Marshal(v)
		if err != nil {
			return nil, err
		}
		return append(dst, b...), nil
	}
}

// appendFloat writes f as JSON; NaN and ±Inf, which JSON lacks, become the
// strings "NaN", "Infinity" and "-Infinity" (as Debezium writes them).
func appendFloat(dst []byte, f float64, bits int) []byte {
	switch {
	case math.IsNaN(f):
		return append(dst, `"NaN"`...)
	case math.IsInf(f, 1):
		return append(dst, `"Infinity"`...)
	case math.IsInf(f, -1):
		return append(dst, `"-Infinity"`...)
	}
	return strconv.AppendFloat(dst, f, 'g', -1, bits)
}

const hexDigits = "0123456789abcdef"

// appendString appends s as a JSON string, escaping like encoding/json
// (without HTML escaping) and replacing invalid UTF-8.
func appendString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		b := s[i]
		if b < utf8.RuneSelf {
			if b >= 0x20 && b != '"' && b != '\\' {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch b {
			case '"', '\\':
				dst = append(dst, '\\', b)
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[b>>4], hexDigits[b&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}

// ParseRow decodes a JSON object into a Row, keeping the column order.
// Numbers decode as json.Number (exact), nested objects as Row, arrays as
// []any.
func ParseRow(b []byte) (Row, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	v, err := parseValue(dec)
	if err != nil {
		return nil, fmt.Errorf("connectors: parsing row: %w", err)
	}
	r, ok := v.(Row)
	if !ok {
		return nil, fmt.Errorf("connectors: parsing row: not a JSON object")
	}
	if _, err := dec.Token(); err == nil {
		return nil, fmt.Errorf("connectors: parsing row: trailing data")
	}
	return r, nil
}

func parseValue(dec *json.Decoder) (any, error) {
	tok, err := dec.Token()
	if err != nil {
		return nil, err
	}
	switch t := tok.(type) {
	case json.Delim:
		switch t {
		case '{':
			var r Row
			for dec.More() {
				kt, err := dec.Token()
				if err != nil {
					return nil, err
				}
				name, ok := kt.(string)
				if !ok {
					return nil, fmt.Errorf("object key %v is not a string", kt)
				}
				v, err := parseValue(dec)
				if err != nil {
					return nil, err
				}
				r = append(r, Column{Name: name, Value: v})
			}
			if _, err := dec.Token(); err != nil {
				return nil, err
			}
			if r == nil {
				r = Row{}
			}
			return r, nil
		case '[':
			arr := []any{}
			for dec.More() {
				v, err := parseValue(dec)
				if err != nil {
					return nil, err
				}
				arr = append(arr, v)
			}
			if _, err := dec.Token(); err != nil {
				return nil, err
			}
			return arr, nil
		}
		return nil, fmt.Errorf("unexpected %v", t)
	default:
		return t, nil // nil, bool, string, json.Number
	}
}

// KeyText renders one key value as text, as Redis key templates and
// Elasticsearch document ids use it: strings as they are, numbers as their
// JSON literal, booleans as true/false, null as the empty string, anything
// else as its compact JSON.
func KeyText(v any) string {
	switch v := v.(type) {
	case nil:
		return ""
	case string:
		return v
	case json.Number:
		return string(v)
	case bool:
		return strconv.FormatBool(v)
	case int64:
		return strconv.FormatInt(v, 10)
	case uint64:
		return strconv.FormatUint(v, 10)
	default:
		b, err := appendValue(nil, v)
		if err != nil {
			return fmt.Sprint(v)
		}
		return string(b)
	}
}

// EscapeKeyPart escapes `\` and `:` with a backslash, so that composite keys
// joined by `:` stay unambiguous.
func EscapeKeyPart(s string) string {
	if !strings.ContainsAny(s, `\:`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' || s[i] == ':' {
			b.WriteByte('\\')
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// KeyID is the document id of a key: its values as text in key order, each
// escaped with EscapeKeyPart and joined by `:` ({"id":42} → 42,
// {"a":"x:y","b":1} → x\:y:1).
func KeyID(key Row) string {
	if len(key) == 1 {
		return EscapeKeyPart(KeyText(key[0].Value))
	}
	parts := make([]string, len(key))
	for i, c := range key {
		parts[i] = EscapeKeyPart(KeyText(c.Value))
	}
	return strings.Join(parts, ":")
}
