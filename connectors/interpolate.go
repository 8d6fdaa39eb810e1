package connectors

import (
	"fmt"
	"strings"
)

// varRef is one ${...} problem found by interpolate: Offset is the byte
// offset of its `$` in the input.
type varRef struct {
	Offset int
	Name   string // the variable, when the reference parsed
	Msg    string
	Kind   error
}

// interpolate expands environment references in s, as the pipeline file
// allows them in every scalar value (never in keys):
//
//   - ${VAR}: the value of VAR; set but empty gives "". Unset is a problem
//     naming VAR.
//   - ${VAR:-default}: VAR's value when set and non-empty, else default
//     (taken literally up to the first `}`; it may be empty, and may not
//     hold another ${).
//   - $$: a literal `$` (so `$${VAR}` is the text `${VAR}`).
//   - a `$` followed by anything else is kept as written.
//
// VAR matches [A-Za-z_][A-Za-z0-9_]*. Values are inserted verbatim: they are
// not expanded again and, since expansion happens on parsed scalars, can
// never change the file's structure. On problems the returned string holds
// what could be expanded, and every problem is reported.
func interpolate(s string, lookup func(string) (string, bool)) (string, []varRef) {
	if !strings.Contains(s, "$") {
		return s, nil
	}
	var (
		b    strings.Builder
		errs []varRef
	)
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c != '$' || i+1 >= len(s) {
			b.WriteByte(c)
			continue
		}
		switch s[i+1] {
		case '$':
			b.WriteByte('$')
			i++
			continue
		case '{':
		default:
			b.WriteByte(c)
			continue
		}
		end := strings.IndexByte(s[i+2:], '}')
		if end < 0 {
			errs = append(errs, varRef{Offset: i, Msg: "unterminated ${ (want ${VAR} or ${VAR:-default})", Kind: ErrInvalid})
			break
		}
		body := s[i+2 : i+2+end]
		next := i + 2 + end // index of the closing }
		name, def, hasDef := body, "", false
		if j := strings.IndexByte(body, ':'); j >= 0 {
			name = body[:j]
			rest := body[j:]
			if !strings.HasPrefix(rest, ":-") {
				errs = append(errs, varRef{Offset: i, Name: name, Msg: fmt.Sprintf("${%s%s}: only ${VAR} and ${VAR:-default} are supported", name, rest), Kind: ErrInvalid})
				i = next
				continue
			}
			def, hasDef = rest[2:], true
		}
		if !validVarName(name) {
			errs = append(errs, varRef{Offset: i, Msg: fmt.Sprintf("${%s}: %q is not a variable name ([A-Za-z_][A-Za-z0-9_]*)", body, name), Kind: ErrInvalid})
			i = next
			continue
		}
		if strings.Contains(def, "${") {
			errs = append(errs, varRef{Offset: i, Name: name, Msg: fmt.Sprintf("${%s:-...}: a default cannot hold another ${...}", name), Kind: ErrInvalid})
			i = next
			continue
		}
		v, ok := lookup(name)
		switch {
		case hasDef && (!ok || v == ""):
			b.WriteString(def)
		case ok:
			b.WriteString(v)
		default:
			errs = append(errs, varRef{Offset: i, Name: name, Msg: fmt.Sprintf("environment variable %s is not set and ${%s} has no default", name, name), Kind: ErrUnsetVar})
		}
		i = next
	}
	return b.String(), errs
}

func validVarName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '_', c >= 'A' && c <= 'Z', c >= 'a' && c <= 'z':
		case c >= '0' && c <= '9' && i > 0:
		default:
			return false
		}
	}
	return true
}
