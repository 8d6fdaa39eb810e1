package connectors

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"go.yaml.in/yaml/v3"
)

// Loader reads pipeline files. The zero value uses the process environment
// and the OS file system.
type Loader struct {
	// LookupEnv resolves ${VAR}; nil: os.LookupEnv.
	LookupEnv func(name string) (string, bool)
	// ReadFile reads *_file secrets; nil: os.ReadFile. Relative paths are
	// relative to the working directory, like data_dir and TLS files.
	ReadFile func(name string) ([]byte, error)
}

// LoadConfig is Loader{}.Load.
func LoadConfig(path string) (*Config, error) { return Loader{}.Load(path) }

// Load reads, decodes, defaults and validates the pipeline file at path.
// The error joins every problem found, each a *FieldError naming
// file:line:col and the field path, sorted by position; the Config is nil
// then. Load connects to nothing.
func (l Loader) Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading pipeline file: %w", err)
	}
	return l.Parse(path, data)
}

// Parse is Load for a file already read; name is used in messages.
func (l Loader) Parse(name string, data []byte) (*Config, error) {
	if l.LookupEnv == nil {
		l.LookupEnv = os.LookupEnv
	}
	if l.ReadFile == nil {
		l.ReadFile = os.ReadFile
	}
	d := &decoder{
		l: l,
		m: &sourceMap{file: name, pos: map[string]Pos{}, failed: map[string]bool{}},
	}
	c := &Config{src: d.m}
	root, ferr := parseYAML(name, data)
	if ferr != nil {
		return nil, ferr
	}
	d.budget = decodeBudget + 4*countNodes(root)
	d.lines = bytes.Split(data, []byte("\n"))
	d.config(root, c)
	c.Defaults()
	errs := d.errs
	errs = append(errs, c.validate()...)
	if len(errs) > 0 {
		return nil, joinSorted(errs)
	}
	return c, nil
}

// The decoder follows aliases and merge keys, so it bounds the nodes it
// visits by decodeBudget plus four per node written: expanding an alias
// costs like a copy, and a small file cannot make the walk expensive.
const decodeBudget = 1 << 14

// countNodes counts the nodes written in the document (aliases not
// followed).
func countNodes(n *yaml.Node) int {
	c := 1
	for _, k := range n.Content {
		c += countNodes(k)
	}
	return c
}

var yamlLine = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// parseYAML parses one YAML document into a node tree. YAML errors come
// back as a *FieldError; the YAML library reports lines but not columns,
// so those name column 1.
func parseYAML(name string, data []byte) (root *yaml.Node, err error) {
	defer func() {
		if r := recover(); r != nil {
			root, err = nil, &FieldError{File: name, Pos: Pos{1, 1}, Msg: fmt.Sprintf("yaml: %v", r), Kind: ErrSyntax}
		}
	}()
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return &yaml.Node{Kind: yaml.MappingNode, Line: 1, Column: 1}, nil
		}
		return nil, yamlError(name, err)
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); err == nil {
		return nil, &FieldError{File: name, Pos: Pos{extra.Line, extra.Column}, Msg: "a pipeline file holds one YAML document; found another", Kind: ErrSyntax}
	} else if !errors.Is(err, io.EOF) {
		return nil, yamlError(name, err)
	}
	if doc.Kind == yaml.DocumentNode && len(doc.Content) == 1 {
		return doc.Content[0], nil
	}
	return &yaml.Node{Kind: yaml.MappingNode, Line: 1, Column: 1}, nil
}

func yamlError(name string, err error) error {
	msg := err.Error()
	line := 1
	if m := yamlLine.FindStringSubmatch(msg); m != nil {
		line, _ = strconv.Atoi(m[1])
		msg = "yaml: " + m[2]
	}
	return &FieldError{File: name, Pos: Pos{line, 1}, Msg: msg, Kind: ErrSyntax}
}

// sourceMap records where each field path was written, for messages.
type sourceMap struct {
	file   string
	pos    map[string]Pos  // value (or mapping) position per path
	failed map[string]bool // paths that already have a decode error
}

// parentPath strips the last .field or [i] of path.
func parentPath(path string) string {
	i := strings.LastIndexAny(path, ".[")
	if i < 0 {
		return ""
	}
	return path[:i]
}

// at returns the position of path, else of its nearest written ancestor.
func (m *sourceMap) at(path string) Pos {
	if m == nil {
		return Pos{}
	}
	for {
		if p, ok := m.pos[path]; ok {
			return p
		}
		if path == "" {
			return Pos{}
		}
		path = parentPath(path)
	}
}

// hasFailed reports whether path or an ancestor had a decode error, so
// validation does not report it twice.
func (m *sourceMap) hasFailed(path string) bool {
	if m == nil {
		return false
	}
	for {
		if m.failed[path] {
			return true
		}
		if path == "" {
			return false
		}
		path = parentPath(path)
	}
}

func joinSorted(errs []*FieldError) error {
	slices.SortStableFunc(errs, func(a, b *FieldError) int {
		if a.Pos.Line != b.Pos.Line {
			return a.Pos.Line - b.Pos.Line
		}
		return a.Pos.Col - b.Pos.Col
	})
	out := make([]error, len(errs))
	for i, e := range errs {
		out[i] = e
	}
	return errors.Join(out...)
}

type decoder struct {
	lines   [][]byte // the file's lines, to place ${VAR} problems in quoted scalars
	l       Loader
	m       *sourceMap
	errs    []*FieldError
	budget  int
	merging map[*yaml.Node]bool // mappings whose merge keys are being expanded
}

type entry struct {
	key  string
	k, v *yaml.Node
}

func nodePos(n *yaml.Node) Pos { return Pos{n.Line, n.Column} }

func (d *decoder) failAt(p Pos, path string, kind error, format string, args ...any) {
	d.m.failed[path] = true
	d.errs = append(d.errs, &FieldError{File: d.m.file, Pos: p, Path: path, Msg: fmt.Sprintf(format, args...), Kind: kind})
}

func (d *decoder) fail(n *yaml.Node, path string, kind error, format string, args ...any) {
	d.failAt(nodePos(n), path, kind, format, args...)
}

// resolve follows aliases and counts the step against the budget; nil
// means stop.
func (d *decoder) resolve(n *yaml.Node) *yaml.Node {
	for i := 0; n != nil && n.Kind == yaml.AliasNode && i < 100; i++ {
		n = n.Alias
	}
	if n == nil || n.Kind == yaml.AliasNode {
		return nil
	}
	d.budget--
	if d.budget == 0 {
		d.fail(n, "", ErrInvalid, "too many alias expansions")
	}
	if d.budget <= 0 {
		return nil
	}
	return n
}

func isNull(n *yaml.Node) bool {
	return n == nil || n.Kind == 0 || (n.Kind == yaml.ScalarNode && n.Tag == "!!null")
}

func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	default:
		return "a scalar"
	}
}

// mapping returns n's entries (merge keys expanded, explicit keys first),
// reporting duplicates. ok is false (and a problem reported) when n is not
// a mapping; a null n is an empty mapping.
func (d *decoder) mapping(n *yaml.Node, path string) (entries []entry, ok bool) {
	n = d.resolve(n)
	if n == nil {
		return nil, false
	}
	d.m.pos[path] = nodePos(n)
	if isNull(n) {
		return nil, true
	}
	if n.Kind != yaml.MappingNode {
		d.fail(n, path, ErrInvalid, "want a mapping, got %s", describe(n))
		return nil, false
	}
	if d.merging[n] {
		d.fail(n, path, ErrInvalid, "a merge key (<<) includes the mapping it is in")
		return nil, false
	}
	seen := map[string]*yaml.Node{}
	var merged []entry
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if k.Kind == yaml.ScalarNode && k.Tag == "!!merge" {
			if d.merging == nil {
				d.merging = map[*yaml.Node]bool{}
			}
			d.merging[n] = true
			merged = append(merged, d.mergeEntries(v, path)...)
			delete(d.merging, n)
			continue
		}
		if k.Kind != yaml.ScalarNode {
			d.fail(k, path, ErrInvalid, "keys must be plain strings, got %s", describe(k))
			continue
		}
		if first, dup := seen[k.Value]; dup {
			d.fail(k, joinPath(path, k.Value), ErrDuplicate, "duplicate key (first at %d:%d)", first.Line, first.Column)
			continue
		}
		seen[k.Value] = k
		entries = append(entries, entry{key: k.Value, k: k, v: v})
	}
	for _, e := range merged {
		if _, dup := seen[e.key]; !dup {
			seen[e.key] = e.k
			entries = append(entries, e)
		}
	}
	return entries, true
}

// mergeEntries expands the value of a `<<` merge key: a mapping or a list
// of mappings, earlier ones winning.
func (d *decoder) mergeEntries(v *yaml.Node, path string) []entry {
	v = d.resolve(v)
	if v == nil {
		return nil
	}
	var srcs []*yaml.Node
	switch v.Kind {
	case yaml.MappingNode:
		srcs = []*yaml.Node{v}
	case yaml.SequenceNode:
		srcs = v.Content
	default:
		d.fail(v, path, ErrInvalid, "a merge key (<<) wants a mapping or a list of mappings")
		return nil
	}
	var out []entry
	seen := map[string]bool{}
	for _, s := range srcs {
		if s = d.resolve(s); s == nil {
			continue
		}
		if s.Kind != yaml.MappingNode {
			d.fail(s, path, ErrInvalid, "a merge key (<<) wants a mapping or a list of mappings")
			continue
		}
		es, _ := d.mapping(s, path)
		for _, e := range es {
			if !seen[e.key] {
				seen[e.key] = true
				out = append(out, e)
			}
		}
	}
	d.m.pos[path] = nodePos(v)
	return out
}

func joinPath(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

func indexPath(path string, i int) string { return path + "[" + strconv.Itoa(i) + "]" }

// scalar returns n's interpolated text; null gives "", ok false means a
// problem was reported.
func (d *decoder) scalar(n *yaml.Node, path string) (string, bool) {
	n = d.resolve(n)
	if n == nil {
		return "", false
	}
	d.m.pos[path] = nodePos(n)
	if isNull(n) {
		return "", true
	}
	if n.Kind != yaml.ScalarNode {
		d.fail(n, path, ErrInvalid, "want a single value, got %s", describe(n))
		return "", false
	}
	s, problems := interpolate(n.Value, d.l.LookupEnv)
	for _, p := range problems {
		pos := nodePos(n)
		if d.writtenAsIs(n) {
			// The reference's own column: the value is the text written
			// (after the opening quote, if any).
			pos.Col += utf8.RuneCountInString(n.Value[:p.Offset])
			if n.Style&(yaml.DoubleQuotedStyle|yaml.SingleQuotedStyle) != 0 {
				pos.Col++
			}
		}
		d.failAt(pos, path, p.Kind, "%s", p.Msg)
	}
	return s, len(problems) == 0
}

// writtenAsIs reports whether n's value is exactly the text at its
// position on one line: a plain scalar, or a quoted one without escapes.
func (d *decoder) writtenAsIs(n *yaml.Node) bool {
	if strings.Contains(n.Value, "\n") || n.Line < 1 || n.Line > len(d.lines) {
		return false
	}
	switch n.Style {
	case 0:
		return true
	case yaml.DoubleQuotedStyle, yaml.SingleQuotedStyle:
	default:
		return false
	}
	line := string(d.lines[n.Line-1])
	// Column (in runes) to byte index.
	i, col := 0, 1
	for i < len(line) && col < n.Column {
		_, size := utf8.DecodeRuneInString(line[i:])
		i += size
		col++
	}
	quote := byte('"')
	if n.Style == yaml.SingleQuotedStyle {
		quote = '\''
	}
	rest := line[i:]
	return len(rest) >= len(n.Value)+2 && rest[0] == quote && rest[1:1+len(n.Value)] == n.Value && rest[1+len(n.Value)] == quote
}

func (d *decoder) str(n *yaml.Node, path string, dst *string) {
	if s, ok := d.scalar(n, path); ok {
		*dst = s
	}
}

// list decodes a list of scalars; null gives nil, [] an empty non-nil
// slice.
func (d *decoder) list(n *yaml.Node, path string) []string {
	n = d.resolve(n)
	if n == nil {
		return nil
	}
	d.m.pos[path] = nodePos(n)
	if isNull(n) {
		return nil
	}
	if n.Kind != yaml.SequenceNode {
		d.fail(n, path, ErrInvalid, "want a list, got %s", describe(n))
		return nil
	}
	out := make([]string, 0, len(n.Content))
	for i, e := range n.Content {
		if s, ok := d.scalar(e, indexPath(path, i)); ok {
			out = append(out, s)
		} else {
			d.m.failed[path] = true // a shortened list is not reported again
		}
	}
	return out
}

// items returns the elements of a list of mappings (null: none).
func (d *decoder) items(n *yaml.Node, path string) ([]*yaml.Node, bool) {
	n = d.resolve(n)
	if n == nil {
		return nil, false
	}
	d.m.pos[path] = nodePos(n)
	if isNull(n) {
		return nil, true
	}
	if n.Kind != yaml.SequenceNode {
		d.fail(n, path, ErrInvalid, "want a list, got %s", describe(n))
		return nil, false
	}
	return n.Content, true
}

func (d *decoder) integer(n *yaml.Node, path string, lo, hi int64) (int64, bool) {
	s, ok := d.scalar(n, path)
	if !ok || s == "" {
		return 0, false
	}
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil || v < lo || v > hi {
		d.failAt(d.m.at(path), path, ErrInvalid, "want a whole number from %d to %d, got %q", lo, hi, s)
		return 0, false
	}
	return v, true
}

func (d *decoder) boolean(n *yaml.Node, path string, dst *bool) {
	s, ok := d.scalar(n, path)
	if !ok || s == "" {
		return
	}
	switch s {
	case "true", "True", "TRUE":
		*dst = true
	case "false", "False", "FALSE":
		*dst = false
	default:
		d.failAt(d.m.at(path), path, ErrInvalid, "want true or false, got %q", s)
	}
}

func (d *decoder) duration(n *yaml.Node, path string, dst *time.Duration) {
	s, ok := d.scalar(n, path)
	if !ok || s == "" {
		return
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		d.failAt(d.m.at(path), path, ErrInvalid, "want a duration such as 90s or 1h30m, got %q", s)
		return
	}
	*dst = v
}

// secretFile reads a *_file secret; ok false when a problem was reported.
func (d *decoder) secretFile(n *yaml.Node, path string) (value, file string, ok bool) {
	file, ok = d.scalar(n, path)
	if !ok || file == "" {
		return "", file, false
	}
	b, err := d.l.ReadFile(file)
	if err != nil {
		var pe *os.PathError
		msg := err.Error()
		if errors.As(err, &pe) {
			msg = pe.Err.Error()
		}
		d.failAt(d.m.at(path), path, ErrSecretFile, "reading %s: %s", file, msg)
		return "", file, false
	}
	v := strings.TrimSuffix(strings.TrimSuffix(string(b), "\n"), "\r")
	return v, file, true
}

// secretPair decodes `key` and `key_file` into one Secret.
type secretPair struct {
	inline, file *entry
}

func (d *decoder) secret(sp secretPair, path, key string) Secret {
	if sp.inline != nil && sp.file != nil {
		d.fail(sp.file.k, joinPath(path, key+"_file"), ErrConflict, "set %s or %s_file, not both", key, key)
		return Secret{}
	}
	if sp.inline != nil {
		s, _ := d.scalar(sp.inline.v, joinPath(path, key))
		return Secret{value: s}
	}
	if sp.file != nil {
		v, f, _ := d.secretFile(sp.file.v, joinPath(path, key+"_file"))
		return Secret{value: v, file: f}
	}
	return Secret{}
}

// unknown reports a key the schema does not have, suggesting a near one.
func (d *decoder) unknown(e entry, path string, allowed []string, note string) {
	msg := "unknown field"
	if note != "" {
		msg += " (" + note + ")"
	} else if s := nearest(e.key, allowed); s != "" {
		msg += fmt.Sprintf(" (did you mean %q?)", s)
	} else {
		msg += " (want one of: " + strings.Join(allowed, ", ") + ")"
	}
	d.fail(e.k, joinPath(path, e.key), ErrUnknownField, "%s", msg)
}

// nearest returns the allowed key within edit distance 2 of k, if any.
func nearest(k string, allowed []string) string {
	best, bestD := "", 3
	for _, a := range allowed {
		if dist := editDistance(k, a); dist < bestD {
			best, bestD = a, dist
		}
	}
	return best
}

func editDistance(a, b string) int {
	if len(a) > 64 || len(b) > 64 {
		return 99
	}
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
