package redis

import (
	"errors"
	"strings"
	"testing"

	"github.com/sluicehq/sluice/connectors"
)

// TestDocumentValues: with Value document, a record's value is the
// document itself (an outbox event's payload): SET as is (HSET of its
// fields in hash mode), a null value DELs, the key is the aggregate id as
// text or a JSON key's columns; a value that is not a JSON object is
// rejected for itself; an envelope-looking payload is not interpreted.
func TestDocumentValues(t *testing.T) {
	t.Parallel()
	addr, rc := sharedRedis(t)
	for _, tc := range []struct {
		name, mode string
		want       map[string]string
	}{
		{"string", ModeString, map[string]string{
			"{p}:order:o-1":  `string {"order_id":"o-1","total_cents":1299} ttl=false`,
			"{p}:order:7":    `string {"op":"c","after":{"x":1}} ttl=false`,
			`{p}:order:a\:b`: `string {"k":1} ttl=false`,
			"{p}:order:o-2":  `string {"order_id":"o-2","total_cents":5} ttl=false`,
		}},
		{"hash", ModeHash, map[string]string{
			"{p}:order:o-1":  `hash {"order_id":"o-1","total_cents":"1299"} ttl=false`,
			"{p}:order:7":    `hash {"after":"{\"x\":1}","op":"c"} ttl=false`,
			`{p}:order:a\:b`: `hash {"k":"1"} ttl=false`,
			"{p}:order:o-2":  `hash {"order_id":"o-2","total_cents":"5"} ttl=false`,
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			p := uniq(t)
			s := openSink(t, Config{Pipeline: p, Name: "cache", Addr: addr, Mode: tc.mode, Value: ValueDocument})
			topic := "outbox.event.order"
			b := connectors.Batch{Records: []connectors.Record{
				rec(topic, "o-1", []byte(`{"order_id":"o-1","total_cents":1299}`)),
				rec(topic, "7", []byte(`{"op":"c","after":{"x":1}}`)), // a payload, not an envelope
				rec(topic, `{"id":"a:b"}`, []byte(`{"k":1}`)),
				rec(topic, "o-3", []byte(`{"order_id":"o-3"}`)),
				rec(topic, "o-3", nil), // tombstone: DEL
				rec(topic, "o-2", []byte(`{"order_id":"o-2","total_cents":5}`)),
				rec(topic, "o-4", []byte(`"just a string"`)),
				rec(topic, "o-5", []byte(`{"broken":`)),
			}}
			err := s.Write(t.Context(), b)
			var be *connectors.BatchError
			if !errors.As(err, &be) || len(be.Failed) != 2 || be.Failed[0].Index != 6 || be.Failed[1].Index != 7 {
				t.Fatalf("Write: %v; want records 6 and 7 rejected", err)
			}
			want := map[string]string{}
			for k, v := range tc.want {
				want[strings.ReplaceAll(k, "{p}", p)] = v
			}
			diffMaps(t, dump(t, rc, p+":"), want)
		})
	}
}

func TestNewConfigRejectsUnknownValue(t *testing.T) {
	t.Parallel()
	if _, err := New(Config{Pipeline: "p", Addr: "h:1", Value: "raw"}); err == nil || !strings.Contains(err.Error(), "value") {
		t.Fatalf("New with value raw: %v", err)
	}
}
