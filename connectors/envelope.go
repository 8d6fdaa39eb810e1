package connectors

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
)

// Op is a change event's operation, as Debezium names them.
type Op string

// The operations of the envelope's op field.
const (
	OpRead     Op = "r" // snapshot row
	OpCreate   Op = "c"
	OpUpdate   Op = "u"
	OpDelete   Op = "d"
	OpTruncate Op = "t"
)

// Valid reports whether o is one of the five operations.
func (o Op) Valid() bool {
	switch o {
	case OpRead, OpCreate, OpUpdate, OpDelete, OpTruncate:
		return true
	}
	return false
}

// SourceInfo is the envelope's source block (CONTRACTS.md "Value"). Fields a
// connector does not have stay empty and are omitted, except the common ones
// Debezium always writes.
type SourceInfo struct {
	Version   string `json:"version,omitempty"`
	Connector string `json:"connector"` // postgresql | mysql
	Name      string `json:"name"`      // topic prefix
	TsMs      int64  `json:"ts_ms"`     // commit time upstream
	Snapshot  string `json:"snapshot"`  // "true" | "last" | "false"
	DB        string `json:"db"`
	Sequence  string `json:"sequence,omitempty"`
	Schema    string `json:"schema,omitempty"`
	Table     string `json:"table"`
	// Postgres.
	TxID *int64 `json:"txId,omitempty"`
	LSN  *int64 `json:"lsn,omitempty"`
	Xmin *int64 `json:"xmin,omitempty"`
	// MySQL / MariaDB.
	ServerID *int64  `json:"server_id,omitempty"`
	GTID     *string `json:"gtid,omitempty"`
	File     string  `json:"file,omitempty"`
	Pos      *int64  `json:"pos,omitempty"`
	Row      *int64  `json:"row,omitempty"`
	Thread   *int64  `json:"thread,omitempty"`
}

// Envelope is a change event value, Debezium-compatible and without a schema
// wrapper. Before and After are JSON objects of the table's columns, or null.
type Envelope struct {
	Before json.RawMessage `json:"before"`
	After  json.RawMessage `json:"after"`
	Op     Op              `json:"op"`
	TsMs   int64           `json:"ts_ms"`
	Source SourceInfo      `json:"source"`
}

var jsonNull = []byte("null")

// IsNull reports whether an image is absent (empty or JSON null).
func IsNull(img json.RawMessage) bool {
	return len(bytes.TrimSpace(img)) == 0 || bytes.Equal(bytes.TrimSpace(img), jsonNull)
}

// Marshal encodes e; a nil image is written as null.
func (e *Envelope) Marshal() ([]byte, error) {
	c := *e
	if len(c.Before) == 0 {
		c.Before = jsonNull
	}
	if len(c.After) == 0 {
		c.After = jsonNull
	}
	return json.Marshal(&c)
}

// ErrNotEnvelope is returned by DecodeEnvelope for a value that is not a
// change event.
var ErrNotEnvelope = errors.New("connectors: value is not a change event envelope")

// DecodeEnvelope decodes a change event value. A tombstone (nil value) is
// not an envelope; callers check for it first.
func DecodeEnvelope(value []byte) (Envelope, error) {
	var e Envelope
	if err := json.Unmarshal(value, &e); err != nil {
		return Envelope{}, fmt.Errorf("%w: %v", ErrNotEnvelope, err)
	}
	if !e.Op.Valid() {
		return Envelope{}, fmt.Errorf("%w: op %q", ErrNotEnvelope, e.Op)
	}
	return e, nil
}

// DocumentKey returns the key columns of a record whose value is a
// document rather than a change event (a sink's `value: document`): the key
// itself when it is a JSON object, else one column "id" holding the key as
// text (an outbox event's key is its aggregate id as written). Empty stays
// empty.
func DocumentKey(key []byte) []byte {
	k := bytes.TrimSpace(key)
	if len(k) == 0 || k[0] == '{' {
		return key
	}
	b, _ := json.Marshal(string(key)) // a string always marshals
	return append(append([]byte(`{"id":`), b...), '}')
}
