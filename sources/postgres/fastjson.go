package postgres

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"unicode/utf8"

	"github.com/sluicehq/sluice/connectors"
)

// appendText appends the JSON of one column's text form: byte-identical to
// encoding decodeText's value with connectors.Row, without allocating for
// the common types.
func appendText(dst []byte, ti *typeInfo, typmod int32, data []byte, types typeResolver) []byte {
	switch ti.kind {
	case kindString, kindOther, kindDate, kindTime, kindInterval:
		return appendJSONBytes(dst, data)
	case kindBool:
		if len(data) > 0 && data[0] == 't' {
			return append(dst, "true"...)
		}
		return append(dst, "false"...)
	case kindInt:
		if isInteger(data) && isJSONNumber(data) {
			return append(dst, data...)
		}
		return appendJSONBytes(dst, data)
	case kindFloat:
		if isJSONNumber(data) {
			return append(dst, data...)
		}
		return appendJSONBytes(dst, data)
	case kindTimestamp:
		if len(data) > 10 && data[10] == ' ' {
			dst = append(dst, '"')
			dst = appendEscaped(dst, data[:10])
			dst = append(dst, 'T')
			dst = appendEscaped(dst, data[11:])
			return append(dst, '"')
		}
		return appendJSONBytes(dst, data)
	case kindTimestamptz:
		if len(data) >= 19 && data[10] == ' ' && !bytes.HasSuffix(data, []byte(" BC")) {
			dst = append(dst, '"')
			dst = appendEscaped(dst, data[:10])
			dst = append(dst, 'T')
			i := bytes.LastIndexAny(data, "+-")
			switch {
			case i < 19:
				dst = appendEscaped(dst, data[11:])
			case string(data[i:]) == "+00" || string(data[i:]) == "-00" || string(data[i:]) == "+00:00":
				dst = appendEscaped(dst, data[11:i])
				dst = append(dst, 'Z')
			case len(data)-i == 3:
				dst = appendEscaped(dst, data[11:])
				dst = append(dst, ":00"...)
			default:
				dst = appendEscaped(dst, data[11:])
			}
			return append(dst, '"')
		}
		return appendJSONBytes(dst, data)
	case kindJSON:
		if json.Valid(data) {
			return append(dst, data...)
		}
		return appendJSONBytes(dst, data)
	case kindBytea:
		if len(data) >= 2 && data[0] == '\\' && data[1] == 'x' {
			if b, ok := decodeBytea(data); ok {
				dst = append(dst, '"')
				dst = base64.StdEncoding.AppendEncode(dst, b)
				return append(dst, '"')
			}
		}
		return appendJSONBytes(dst, data)
	}
	v := decodeText(ti, typmod, data, types)
	b, err := connectors.Row{{Name: "", Value: v}}.AppendJSON(nil) // {"":<value>}
	if err != nil {
		return appendJSONBytes(dst, data)
	}
	return append(dst, b[4:len(b)-1]...)
}

// appendJSONBytes appends s as a JSON string, escaping exactly as
// connectors.Row does (no HTML escaping; invalid UTF-8 → U+FFFD; U+2028
// and U+2029 escaped).
func appendJSONBytes(dst, s []byte) []byte {
	dst = append(dst, '"')
	dst = appendEscaped(dst, s)
	return append(dst, '"')
}

const hexDigits = "0123456789abcdef"

func appendEscaped(dst, s []byte) []byte {
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
		r, size := utf8.DecodeRune(s[i:])
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
	return append(dst, s[start:]...)
}
