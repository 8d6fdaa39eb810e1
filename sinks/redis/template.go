package redis

import (
	"fmt"
	"strings"

	"github.com/sluicehq/sluice/connectors"
)

// Template is a parsed key template such as `customer:{id}` or
// `t:{tenant}:{id}`.
//
// Grammar: literal text is taken byte for byte as written; `{name}` is a
// placeholder replaced by the record key's column `name`, rendered with
// connectors.KeyText and escaped with connectors.EscapeKeyPart (`\` before
// every `:` and `\`). `{` always opens a placeholder; a `}` outside one, an
// unclosed `{`, a `{` inside a placeholder and an empty `{}` are errors. A
// template needs at least one placeholder, or every row would share one key.
type Template struct {
	raw    string
	parts  []part
	prefix string
	cols   []string
}

type part struct {
	text string // literal text, or the column name when col is true
	col  bool
}

// ParseTemplate parses s. Errors wrap ErrTemplate and name the offending
// placeholder and its byte offset.
func ParseTemplate(s string) (*Template, error) {
	t := &Template{raw: s}
	lit := 0 // start of the pending literal
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '}':
			return nil, fmt.Errorf("%w %q: '}' at offset %d closes no placeholder", ErrTemplate, s, i)
		case '{':
			end := strings.IndexAny(s[i+1:], "{}")
			if end < 0 {
				return nil, fmt.Errorf("%w %q: placeholder %q at offset %d is not closed", ErrTemplate, s, s[i:], i)
			}
			end += i + 1
			if s[end] == '{' {
				return nil, fmt.Errorf("%w %q: placeholder %q at offset %d contains '{'", ErrTemplate, s, s[i:end+1], i)
			}
			name := s[i+1 : end]
			if name == "" {
				return nil, fmt.Errorf("%w %q: empty placeholder {} at offset %d", ErrTemplate, s, i)
			}
			if i > lit {
				t.parts = append(t.parts, part{text: s[lit:i]})
			}
			if len(t.cols) == 0 {
				t.prefix = s[:i]
			}
			t.parts = append(t.parts, part{text: name, col: true})
			t.cols = append(t.cols, name)
			i = end
			lit = end + 1
		}
	}
	if len(t.cols) == 0 {
		return nil, fmt.Errorf("%w %q: no {column} placeholder, every row would share one key", ErrTemplate, s)
	}
	if lit < len(s) {
		t.parts = append(t.parts, part{text: s[lit:]})
	}
	return t, nil
}

// String returns the template as written.
func (t *Template) String() string { return t.raw }

// Prefix returns the text before the first placeholder: the prefix a
// rebuild or truncate sweeps. It may be empty.
func (t *Template) Prefix() string { return t.prefix }

// Columns returns the placeholder names in template order (the caller must
// not modify the slice).
func (t *Template) Columns() []string { return t.cols }

// Render returns the Redis key of a record key. A placeholder naming no
// column of key is an error wrapping ErrKeyColumn that names it.
func (t *Template) Render(key connectors.Row) (string, error) {
	var b strings.Builder
	b.Grow(len(t.raw) + 16)
	for _, p := range t.parts {
		if !p.col {
			b.WriteString(p.text)
			continue
		}
		v, ok := key.Get(p.text)
		if !ok {
			return "", fmt.Errorf("%w: key template %q: placeholder {%s} names no column of the record key", ErrKeyColumn, t.raw, p.text)
		}
		b.WriteString(connectors.EscapeKeyPart(connectors.KeyText(v)))
	}
	return b.String(), nil
}
