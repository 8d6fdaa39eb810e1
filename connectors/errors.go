package connectors

import (
	"errors"
	"strconv"
	"strings"
)

// Errors of the pipeline file (the runtime's errors live in
// runtime_errors.go). Every problem Load and Validate report is a
// *FieldError; errors.Is matches it against ErrConfig and against the one
// sentinel below that classifies it.
var (
	ErrConfig       = errors.New("connectors: invalid pipeline file")
	ErrSyntax       = errors.New("connectors: pipeline file is not valid YAML")
	ErrUnknownField = errors.New("connectors: unknown field")
	ErrRequired     = errors.New("connectors: required field missing")
	ErrInvalid      = errors.New("connectors: invalid value")
	ErrDuplicate    = errors.New("connectors: duplicate")
	ErrConflict     = errors.New("connectors: conflicting fields")
	ErrUnsetVar     = errors.New("connectors: environment variable not set")
	ErrSecretFile   = errors.New("connectors: reading a secret file")
)

// Pos is a place in a pipeline file; Line and Col are 1-based, 0 when
// unknown (a config built in code).
type Pos struct {
	Line, Col int
}

// FieldError is one problem in a pipeline file. Its text is
// `file:line:col: path: msg`, e.g.
// `pipeline.yaml:12:9: pipelines[0].sinks[1].index: required`; parts that
// are unknown are left out. Msg never holds a secret.
type FieldError struct {
	File string
	Pos  Pos
	Path string // field path, e.g. pipelines[0].source.dsn; empty for the whole file
	Msg  string
	Kind error // one of the sentinels above
}

func (e *FieldError) Error() string {
	var b strings.Builder
	if e.File != "" {
		b.WriteString(e.File)
		if e.Pos.Line > 0 {
			b.WriteByte(':')
			b.WriteString(strconv.Itoa(e.Pos.Line))
			b.WriteByte(':')
			b.WriteString(strconv.Itoa(max(e.Pos.Col, 1)))
		}
		b.WriteString(": ")
	}
	if e.Path != "" {
		b.WriteString(e.Path)
		b.WriteString(": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

// Unwrap returns ErrConfig and e.Kind, so errors.Is matches both.
func (e *FieldError) Unwrap() []error {
	if e.Kind == nil {
		return []error{ErrConfig}
	}
	return []error{ErrConfig, e.Kind}
}

// FieldErrors returns the *FieldError values inside err (as Load and
// Validate return them, joined), in order.
func FieldErrors(err error) []*FieldError {
	var out []*FieldError
	var walk func(error)
	walk = func(err error) {
		if err == nil {
			return
		}
		if fe, ok := err.(*FieldError); ok { //nolint:errorlint // exact type at each level of the tree
			out = append(out, fe)
			return
		}
		switch u := err.(type) { //nolint:errorlint // walking the join tree
		case interface{ Unwrap() []error }:
			for _, e := range u.Unwrap() {
				walk(e)
			}
		case interface{ Unwrap() error }:
			walk(u.Unwrap())
		}
	}
	walk(err)
	return out
}
