package elasticsearch

import (
	"errors"
	"strings"
	"testing"

	"github.com/sluicehq/sluice/connectors"
)

// TestDocumentValues: with Value document, the record's value is the
// document (an outbox event's payload), _id is the key as text (or a JSON
// key's values), a null value deletes, Fields/Rename still apply, an
// envelope-looking payload is indexed as it is, and a value that is not a
// JSON object is rejected for itself.
func TestDocumentValues(t *testing.T) {
	t.Parallel()
	u, alias := sharedES(t)
	s := openSink(t, Config{Pipeline: "p", Name: "s", URL: u, Index: alias, Value: ValueDocument, Rename: map[string]string{"total_cents": "cents"}})
	topic := "outbox.event.order"
	recs := func(first int64, kv ...string) connectors.Batch {
		var b connectors.Batch
		for i := 0; i < len(kv); i += 2 {
			r := connectors.Record{Topic: topic, Offset: first + int64(i/2), Key: []byte(kv[i])}
			if kv[i+1] != "<nil>" {
				r.Value = []byte(kv[i+1])
			}
			b.Records = append(b.Records, r)
		}
		return b
	}
	ctx := t.Context()
	if err := s.Write(ctx, recs(0,
		"o-1", `{"order_id":"o-1","total_cents":1299}`,
		"o-2", `{"order_id":"o-2","total_cents":5}`,
		"7", `{"op":"c","after":{"x":1}}`,
		`{"id":"a:b"}`, `{"k":1}`,
	)); err != nil {
		t.Fatal(err)
	}
	err := s.Write(ctx, recs(4,
		"o-2", "<nil>",
		"o-9", `[1,2]`,
		"o-1", `{"order_id":"o-1","total_cents":1300}`,
	))
	var be *connectors.BatchError
	if !errors.As(err, &be) || len(be.Failed) != 1 || be.Failed[0].Index != 1 || !strings.Contains(be.Failed[0].Err.Error(), "not a JSON object") {
		t.Fatalf("Write: %v; want record 1 rejected", err)
	}
	want := map[string]string{
		"o-1":  `{"order_id":"o-1","cents":1300}`,
		"7":    `{"op":"c","after":{"x":1}}`,
		`a\:b`: `{"k":1}`,
	}
	if err := equalDocs(docs(t, u, alias), want); err != nil {
		t.Fatal(err)
	}
}

func TestNewConfigRejectsUnknownValue(t *testing.T) {
	t.Parallel()
	if _, err := New(Config{URL: "http://h:1", Index: "x", Value: "raw"}); err == nil || !strings.Contains(err.Error(), "value") {
		t.Fatalf("New with value raw: %v", err)
	}
}
