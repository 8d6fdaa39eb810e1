package mysql

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"golang.org/x/text/encoding"
	"golang.org/x/text/encoding/charmap"
	"golang.org/x/text/encoding/htmlindex"
	"strconv"
	"strings"
)

// Values reach the encoder in two forms: decoded by go-mysql from the
// binlog (binlogValue) and as text from a snapshot SELECT (textValue). Both
// map to the same JSON (TYPES.md); the type test checks they agree.

// binlogValue maps a go-mysql row value (ParseTime off, timestamps as UTC
// strings, decimals as strings) to a connectors.Row value. The returned
// value may alias v's memory: encode it before the next event.
func binlogValue(c *column, v any) any {
	if v == nil {
		return nil
	}
	switch c.Kind {
	case kInt:
		var i int64
		switch x := v.(type) {
		case int8:
			i = int64(x)
		case int16:
			i = int64(x)
		case int32:
			i = int64(x)
		case int64:
			i = x
		case int:
			i = int64(x)
		default:
			return fmt.Sprint(v)
		}
		if !c.Unsigned || i >= 0 {
			return i
		}
		switch c.Width { // two's complement back to the unsigned value
		case 1:
			return int64(uint8(i))
		case 2:
			return int64(uint16(i))
		case 3:
			return int64(uint32(i) & 0xFFFFFF)
		case 4:
			return int64(uint32(i))
		}
		return uint64(i)
	case kYear:
		if x, ok := v.(int); ok {
			return int64(x)
		}
	case kEnum:
		if x, ok := v.(int64); ok {
			if x <= 0 || int(x) > len(c.Labels) {
				return ""
			}
			return c.Labels[x-1]
		}
	case kSet:
		if x, ok := v.(int64); ok {
			out := []any{}
			for i, l := range c.Labels {
				if x&(1<<uint(i)) != 0 {
					out = append(out, l)
				}
			}
			return out
		}
	case kBit:
		if x, ok := v.(int64); ok {
			if c.Width <= 1 {
				return x != 0
			}
			var b [8]byte
			binary.BigEndian.PutUint64(b[:], uint64(x))
			n := min(max((c.Width+7)/8, 1), 8) // bit(n) is at most 64 bits
			return b[8-n:]
		}
	case kBinary:
		var b []byte
		switch x := v.(type) {
		case []byte:
			b = x
		case string:
			b = []byte(x)
		}
		if c.Width > len(b) && c.Width <= 255 { // binary(n) is logged without its zero padding
			p := make([]byte, c.Width)
			copy(p, b)
			b = p
		}
		return b
	case kDatetime:
		if s, ok := v.(string); ok {
			return strings.Replace(s, " ", "T", 1)
		}
	case kTimestamp:
		if s, ok := v.(string); ok {
			return timestampText(s)
		}
	case kJSON:
		var b []byte
		switch x := v.(type) {
		case string:
			b = []byte(x)
		case []byte:
			b = x
		}
		if len(b) == 0 {
			return json.RawMessage("null")
		}
		if json.Valid(b) {
			return json.RawMessage(b)
		}
		return string(b)
	case kString, kDecimal, kDate, kTime:
		switch x := v.(type) {
		case string:
			if c.Charset != "" {
				return toUTF8(c.Charset, x)
			}
			return x
		case []byte:
			return string(x)
		}
	case kFloat, kDouble:
		switch v.(type) {
		case float32, float64:
			return v
		}
	}
	switch x := v.(type) {
	case []byte:
		return string(x)
	case string:
		return x
	}
	return fmt.Sprint(v)
}

// toUTF8 decodes s from a MySQL character set; latin1 is MySQL's cp1252.
// An unknown set passes through (invalid UTF-8 becomes U+FFFD in JSON).
func toUTF8(charset, s string) string {
	var enc encoding.Encoding
	if charset == "latin1" {
		enc = charmap.Windows1252
	} else if e, err := htmlindex.Get(charset); err == nil {
		enc = e
	}
	if enc == nil {
		return s
	}
	out, err := enc.NewDecoder().String(s)
	if err != nil {
		return s
	}
	return out
}

// timestampText turns "YYYY-MM-DD HH:MM:SS[.f]" (UTC) into RFC 3339 UTC.
func timestampText(s string) string {
	return strings.Replace(s, " ", "T", 1) + "Z"
}

// textValue maps a text-protocol value (session time_zone '+00:00') to a
// connectors.Row value. b is copied where it is kept.
func textValue(c *column, b []byte) any {
	if b == nil {
		return nil
	}
	s := string(b)
	switch c.Kind {
	case kInt, kYear:
		if i, err := strconv.ParseInt(s, 10, 64); err == nil {
			return i
		}
		if u, err := strconv.ParseUint(s, 10, 64); err == nil {
			return u
		}
	case kFloat:
		if f, err := strconv.ParseFloat(s, 32); err == nil {
			return float32(f)
		}
	case kDouble:
		if f, err := strconv.ParseFloat(s, 64); err == nil {
			return f
		}
	case kSet:
		out := []any{}
		if s != "" {
			for _, p := range strings.Split(s, ",") {
				out = append(out, p)
			}
		}
		return out
	case kBinary:
		out := make([]byte, max(len(b), min(c.Width, 255))) // binary(n) has n <= 255
		copy(out, b)
		return out
	case kBit:
		if c.Width <= 1 {
			return len(b) > 0 && b[len(b)-1] != 0
		}
		n := min(max((c.Width+7)/8, 1), 8)
		out := make([]byte, n)
		copy(out[max(0, n-len(b)):], b)
		return out
	case kDatetime:
		return strings.Replace(s, " ", "T", 1)
	case kTimestamp:
		return timestampText(s)
	case kJSON:
		if json.Valid(b) {
			return json.RawMessage(s)
		}
	}
	return s
}
