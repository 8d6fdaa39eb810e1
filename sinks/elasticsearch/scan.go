package elasticsearch

import (
	"bytes"
	"encoding/json"
	"strings"
	"unicode/utf8"

	"github.com/sluicehq/sluice/connectors"
)

// The sink spends most of its own CPU reading envelopes and keys, which
// competes with Elasticsearch for the same cores. scanEnvelope and scanKeyID
// are fast paths over the common shapes; whenever they are unsure they
// return ok=false and the caller uses connectors.DecodeEnvelope and
// connectors.ParseRow, so they never change a result (fuzzed against them).

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

func skipSpace(b []byte, i int) int {
	for i < len(b) && isSpace(b[i]) {
		i++
	}
	return i
}

// skipString returns the index after the string starting at b[i] == '"',
// whether it holds a backslash, or -1.
func skipString(b []byte, i int) (int, bool) {
	esc := false
	for j := i + 1; j < len(b); j++ {
		switch b[j] {
		case '\\':
			esc = true
			j++
		case '"':
			return j + 1, esc
		}
	}
	return -1, esc
}

// skipValue returns the index after the JSON value starting at b[i], or -1.
// It checks the structure (strings, nesting), not every literal.
func skipValue(b []byte, i int) int {
	if i >= len(b) {
		return -1
	}
	switch b[i] {
	case '"':
		j, _ := skipString(b, i)
		return j
	case '{', '[':
		depth := 0
		for j := i; j < len(b); j++ {
			switch b[j] {
			case '"':
				k, _ := skipString(b, j)
				if k < 0 {
					return -1
				}
				j = k - 1
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return j + 1
				}
			}
		}
		return -1
	default:
		j := i
		for j < len(b) && !isSpace(b[j]) && b[j] != ',' && b[j] != '}' && b[j] != ']' {
			j++
		}
		if j == i {
			return -1
		}
		return j
	}
}

// scanEnvelope reads op and after of a change event value. ok is false when
// the value is not a plain JSON object of plain keys, or op is not a valid
// operation; after is nil when absent.
func scanEnvelope(v []byte) (op connectors.Op, after []byte, ok bool) {
	i := skipSpace(v, 0)
	if i >= len(v) || v[i] != '{' {
		return "", nil, false
	}
	i = skipSpace(v, i+1)
	if i < len(v) && v[i] == '}' {
		return "", nil, false
	}
	for {
		if i >= len(v) || v[i] != '"' {
			return "", nil, false
		}
		ke, esc := skipString(v, i)
		if ke < 0 || esc {
			return "", nil, false
		}
		key := v[i+1 : ke-1]
		i = skipSpace(v, ke)
		if i >= len(v) || v[i] != ':' {
			return "", nil, false
		}
		vs := skipSpace(v, i+1)
		ve := skipValue(v, vs)
		if ve < 0 {
			return "", nil, false
		}
		switch ks := string(key); ks {
		case "op":
			if v[vs] != '"' {
				return "", nil, false
			}
			op = connectors.Op(v[vs+1 : ve-1])
		case "after":
			after = v[vs:ve]
		default:
			// encoding/json matches keys case-insensitively.
			if strings.EqualFold(ks, "op") || strings.EqualFold(ks, "after") {
				return "", nil, false
			}
		}
		i = skipSpace(v, ve)
		if i >= len(v) {
			return "", nil, false
		}
		if v[i] == '}' {
			if skipSpace(v, i+1) != len(v) || !op.Valid() {
				return "", nil, false
			}
			return op, after, true
		}
		if v[i] != ',' {
			return "", nil, false
		}
		i = skipSpace(v, i+1)
	}
}

// scanKeyID returns connectors.KeyID of a key that is a flat JSON object of
// strings without escapes, numbers, booleans and nulls.
func scanKeyID(k []byte) (string, bool) {
	i := skipSpace(k, 0)
	if i >= len(k) || k[i] != '{' {
		return "", false
	}
	i = skipSpace(k, i+1)
	var sb strings.Builder
	n := 0
	for {
		if i >= len(k) || k[i] != '"' {
			return "", false
		}
		ke, esc := skipString(k, i)
		if ke < 0 || esc || !utf8.Valid(k[i+1:ke-1]) || hasControl(k[i+1:ke-1]) {
			return "", false
		}
		i = skipSpace(k, ke)
		if i >= len(k) || k[i] != ':' {
			return "", false
		}
		vs := skipSpace(k, i+1)
		ve := skipValue(k, vs)
		if ve < 0 {
			return "", false
		}
		val := k[vs:ve]
		var text string
		switch val[0] {
		case '"':
			s := val[1 : len(val)-1]
			if bytes.IndexByte(s, '\\') >= 0 || !utf8.Valid(s) || hasControl(s) {
				return "", false
			}
			text = string(s)
		case '{', '[':
			return "", false
		default:
			switch string(val) {
			case "null":
			case "true", "false":
				text = string(val)
			default:
				if !json.Valid(val) || val[0] == 't' || val[0] == 'f' || val[0] == 'n' {
					return "", false
				}
				text = string(val)
			}
		}
		if n > 0 {
			sb.WriteByte(':')
		}
		sb.WriteString(connectors.EscapeKeyPart(text))
		n++
		i = skipSpace(k, ve)
		if i >= len(k) {
			return "", false
		}
		if k[i] == '}' {
			if skipSpace(k, i+1) != len(k) {
				return "", false
			}
			return sb.String(), true
		}
		if k[i] != ',' {
			return "", false
		}
		i = skipSpace(k, i+1)
	}
}

func hasControl(s []byte) bool {
	for _, c := range s {
		if c < 0x20 {
			return true
		}
	}
	return false
}
