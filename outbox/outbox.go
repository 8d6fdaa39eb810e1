package outbox

import (
	"context"
	"database/sql"
	"embed"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
)

// Event is one outbox event.
type Event struct {
	ID            string            // unique; empty: a new UUIDv7, assigned by Write
	AggregateType string            // required; names the topic (outbox.event.<aggregatetype>)
	AggregateID   string            // required; the record key, so one aggregate keeps one partition
	Type          string            // required; the "type" header
	Payload       json.RawMessage   // required JSON; the record value
	Headers       map[string]string // optional; become record headers
}

// Dialect is the SQL database a Writer writes to.
type Dialect int

// Dialects.
const (
	Postgres Dialect = iota + 1
	MySQL
)

func (d Dialect) String() string {
	switch d {
	case Postgres:
		return "postgres"
	case MySQL:
		return "mysql"
	}
	return "dialect(" + strconv.Itoa(int(d)) + ")"
}

// Mode is how events are written.
type Mode int

// Modes.
const (
	TableMode   Mode = iota // INSERT into the outbox table
	MessageMode             // pg_logical_emit_message (Postgres only)
)

// Defaults.
const (
	DefaultTable  = "outbox"        // in the connection's search_path / database
	DefaultPrefix = "sluice.outbox" // message prefix in MessageMode
	// MaxBatch is how many events one statement carries; Write splits
	// larger calls into several statements of the same transaction.
	MaxBatch = 1000
)

// Columns names the outbox table's columns; Headers empty means the table
// has no headers column (events' Headers are then rejected).
type Columns struct {
	ID, AggregateType, AggregateID, Type, Payload, Headers string
}

// DefaultColumns are the columns of the shipped DDL.
var DefaultColumns = Columns{ID: "id", AggregateType: "aggregatetype", AggregateID: "aggregateid", Type: "type", Payload: "payload", Headers: "headers"}

// Option configures a Writer.
type Option func(*Writer)

// WithTable sets the outbox table: "table" or "schema.table" (Postgres),
// "table" or "db.table" (MySQL). Default DefaultTable.
func WithTable(name string) Option { return func(w *Writer) { w.table = name } }

// WithDialect sets the database; default Postgres. Write (pgx) always needs
// Postgres; WriteSQL uses the dialect to build its SQL.
func WithDialect(d Dialect) Option { return func(w *Writer) { w.dialect = d } }

// WithMode sets TableMode (default) or MessageMode.
func WithMode(m Mode) Option { return func(w *Writer) { w.mode = m } }

// WithPrefix sets the logical decoding message prefix of MessageMode;
// default DefaultPrefix. It must match the pipeline's source.outbox.prefix.
func WithPrefix(p string) Option { return func(w *Writer) { w.prefix = p } }

// WithColumns maps the event's parts to the table's column names (TableMode);
// must match the pipeline's source.outbox.columns.
func WithColumns(c Columns) Option { return func(w *Writer) { w.cols = c } }

// WithIDFunc replaces the UUIDv7 generator for events without an ID.
func WithIDFunc(f func() (string, error)) Option { return func(w *Writer) { w.newID = f } }

// Writer writes events inside the caller's transactions. It is immutable
// and safe for concurrent use.
type Writer struct {
	table   string
	dialect Dialect
	mode    Mode
	prefix  string
	cols    Columns
	newID   func() (string, error)

	insertHead string // INSERT INTO t (cols) VALUES
	perRow     int    // parameters per row
}

// New returns a Writer; it fails with ErrConfig when options conflict.
func New(opts ...Option) (*Writer, error) {
	w := &Writer{table: DefaultTable, dialect: Postgres, mode: TableMode, prefix: DefaultPrefix, cols: DefaultColumns, newID: NewID}
	for _, o := range opts {
		o(w)
	}
	switch {
	case w.dialect != Postgres && w.dialect != MySQL:
		return nil, fmt.Errorf("%w: unknown dialect %v", ErrConfig, w.dialect)
	case w.mode != TableMode && w.mode != MessageMode:
		return nil, fmt.Errorf("%w: unknown mode %d", ErrConfig, w.mode)
	case w.mode == MessageMode && w.dialect != Postgres:
		return nil, fmt.Errorf("%w: message mode is Postgres only (pg_logical_emit_message); use TableMode with %v", ErrConfig, w.dialect)
	case w.mode == MessageMode && w.prefix == "":
		return nil, fmt.Errorf("%w: empty message prefix", ErrConfig)
	case w.newID == nil:
		return nil, fmt.Errorf("%w: nil ID function", ErrConfig)
	}
	if w.mode == TableMode {
		q := byte('"')
		if w.dialect == MySQL {
			q = '`'
		}
		tbl, err := quoteQualified(w.table, q)
		if err != nil {
			return nil, err
		}
		names := []string{w.cols.ID, w.cols.AggregateType, w.cols.AggregateID, w.cols.Type, w.cols.Payload}
		if w.cols.Headers != "" {
			names = append(names, w.cols.Headers)
		}
		quoted := make([]string, len(names))
		for i, n := range names {
			if n == "" {
				return nil, fmt.Errorf("%w: empty column name in %+v", ErrConfig, w.cols)
			}
			quoted[i] = quoteIdent(n, q)
		}
		w.insertHead = "INSERT INTO " + tbl + " (" + strings.Join(quoted, ", ") + ") VALUES "
		w.perRow = len(names)
	}
	return w, nil
}

// NewID returns a new UUIDv7 as text: unique and ordered by creation time
// within a process.
func NewID() (string, error) {
	u, err := uuid.NewV7()
	if err != nil {
		return "", fmt.Errorf("outbox: generating UUIDv7: %w", err)
	}
	return u.String(), nil
}

// Write writes events in tx, a Postgres transaction, in one statement per
// MaxBatch events. Events without an ID get one, assigned in place (a caller
// passing a slice with events... sees it). Write does not commit: the events
// exist iff tx commits. ctx bounds the statements.
func (w *Writer) Write(ctx context.Context, tx pgx.Tx, events ...Event) error {
	if w.dialect != Postgres {
		return fmt.Errorf("%w: Write takes a pgx (Postgres) transaction but the dialect is %v; use WriteSQL", ErrConfig, w.dialect)
	}
	return w.write(events, func(q string, args []any) error {
		_, err := tx.Exec(ctx, q, args...)
		return err
	})
}

// WriteSQL is Write for a database/sql transaction, in the Writer's dialect.
func (w *Writer) WriteSQL(ctx context.Context, tx *sql.Tx, events ...Event) error {
	return w.write(events, func(q string, args []any) error {
		_, err := tx.ExecContext(ctx, q, args...)
		return err
	})
}

func (w *Writer) write(events []Event, exec func(q string, args []any) error) error {
	for i := range events {
		if err := w.prepare(&events[i], i); err != nil {
			return err
		}
	}
	for start := 0; start < len(events); start += MaxBatch {
		batch := events[start:min(start+MaxBatch, len(events))]
		q, args, err := w.statement(batch)
		if err != nil {
			return err
		}
		if err := exec(q, args); err != nil {
			what := "inserting into " + w.table
			if w.mode == MessageMode {
				what = "emitting logical decoding messages"
			}
			return fmt.Errorf("outbox: %s (%d events): %w", what, len(batch), err)
		}
	}
	return nil
}

func (w *Writer) prepare(e *Event, i int) error {
	for _, f := range []struct{ name, v string }{{"AggregateType", e.AggregateType}, {"AggregateID", e.AggregateID}, {"Type", e.Type}} {
		if f.v == "" {
			return fmt.Errorf("%w: events[%d].%s: required", ErrInvalidEvent, i, f.name)
		}
	}
	if len(e.Payload) == 0 {
		return fmt.Errorf("%w: events[%d].Payload: required (JSON)", ErrInvalidEvent, i)
	}
	if !json.Valid(e.Payload) {
		return fmt.Errorf("%w: events[%d].Payload: not valid JSON", ErrInvalidEvent, i)
	}
	if len(e.Headers) > 0 && w.mode == TableMode && w.cols.Headers == "" {
		return fmt.Errorf("%w: events[%d].Headers: the table has no headers column", ErrInvalidEvent, i)
	}
	if e.ID == "" {
		id, err := w.newID()
		if err != nil {
			return err
		}
		e.ID = id
	}
	return nil
}

// statement builds one statement for batch.
func (w *Writer) statement(batch []Event) (string, []any, error) {
	if w.mode == MessageMode {
		contents := make([]string, len(batch))
		for i := range batch {
			c, err := MessageContent(batch[i])
			if err != nil {
				return "", nil, err
			}
			contents[i] = string(c)
		}
		// unnest yields the array in order and the aggregate evaluates
		// pg_logical_emit_message once per element in that order, so the
		// messages enter the WAL in argument order.
		return "SELECT count(pg_logical_emit_message(true, $1::text, c)) FROM unnest($2::text[]) AS u(c)", []any{w.prefix, contents}, nil
	}
	var b strings.Builder
	b.Grow(len(w.insertHead) + len(batch)*w.perRow*12)
	b.WriteString(w.insertHead)
	args := make([]any, 0, len(batch)*w.perRow)
	n := 0
	param := func(cast string) {
		n++
		if w.dialect == MySQL {
			b.WriteByte('?')
			return
		}
		b.WriteByte('$')
		b.WriteString(strconv.Itoa(n))
		b.WriteString(cast)
	}
	for i, e := range batch {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteByte('(')
		param("")
		b.WriteString(", ")
		param("::text")
		b.WriteString(", ")
		param("::text")
		b.WriteString(", ")
		param("::text")
		b.WriteString(", ")
		param("::text::jsonb")
		args = append(args, e.ID, e.AggregateType, e.AggregateID, e.Type, string(e.Payload))
		if w.cols.Headers != "" {
			b.WriteString(", ")
			param("::text::jsonb")
			var h any // NULL without headers
			if len(e.Headers) > 0 {
				hb, err := json.Marshal(e.Headers)
				if err != nil {
					return "", nil, fmt.Errorf("outbox: encoding headers of event %s: %w", e.ID, err)
				}
				h = string(hb)
			}
			args = append(args, h)
		}
		b.WriteByte(')')
	}
	return b.String(), args, nil
}

// MessageContent is the logical decoding message content of e in
// MessageMode: {"id","aggregatetype","aggregateid","type","payload"} with the
// payload embedded, plus "headers" when e has any.
func MessageContent(e Event) ([]byte, error) {
	b, err := json.Marshal(struct {
		ID            string            `json:"id"`
		AggregateType string            `json:"aggregatetype"`
		AggregateID   string            `json:"aggregateid"`
		Type          string            `json:"type"`
		Payload       json.RawMessage   `json:"payload"`
		Headers       map[string]string `json:"headers,omitempty"`
	}{e.ID, e.AggregateType, e.AggregateID, e.Type, e.Payload, e.Headers})
	if err != nil {
		return nil, fmt.Errorf("%w: encoding event %s: %v", ErrInvalidEvent, e.ID, err)
	}
	return b, nil
}

//go:embed sql/postgres.sql sql/mysql.sql
var ddlFiles embed.FS

// DDL returns the CREATE TABLE IF NOT EXISTS statement of the outbox table
// for dialect, with table ("name" or "schema.name") quoted in.
func DDL(d Dialect, table string) (string, error) {
	var file string
	var q byte
	switch d {
	case Postgres:
		file, q = "sql/postgres.sql", '"'
	case MySQL:
		file, q = "sql/mysql.sql", '`'
	default:
		return "", fmt.Errorf("%w: unknown dialect %v", ErrConfig, d)
	}
	tbl, err := quoteQualified(table, q)
	if err != nil {
		return "", err
	}
	src, err := ddlFiles.ReadFile(file)
	if err != nil {
		return "", fmt.Errorf("outbox: reading embedded %s: %w", file, err)
	}
	return strings.Replace(string(src), "{{table}}", tbl, 1), nil
}

// quoteQualified quotes "schema.table" (or "table") part by part.
func quoteQualified(name string, q byte) (string, error) {
	parts := strings.Split(name, ".")
	if name == "" || len(parts) > 2 {
		return "", fmt.Errorf("%w: table %q: want table or schema.table", ErrConfig, name)
	}
	for i, p := range parts {
		if p == "" {
			return "", fmt.Errorf("%w: table %q: empty name part", ErrConfig, name)
		}
		parts[i] = quoteIdent(p, q)
	}
	return strings.Join(parts, "."), nil
}

func quoteIdent(s string, q byte) string {
	return string(q) + strings.ReplaceAll(s, string(q), string(q)+string(q)) + string(q)
}
