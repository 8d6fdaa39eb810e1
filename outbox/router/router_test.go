package router

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/sluicehq/sluice/connectors"
)

func row(kv ...any) connectors.Row {
	r := make(connectors.Row, 0, len(kv)/2)
	for i := 0; i < len(kv); i += 2 {
		r = append(r, connectors.Column{Name: kv[i].(string), Value: kv[i+1]})
	}
	return r
}

func stdRow() connectors.Row {
	return row("id", "0190c1a2-0000-7000-8000-000000000001", "aggregatetype", "order", "aggregateid", "42",
		"type", "OrderPlaced", "payload", json.RawMessage(`{"total":10}`), "created_at", "2026-01-01T00:00:00Z")
}

func headersOf(r connectors.Record) string {
	var b []string
	for _, h := range r.Headers {
		b = append(b, h.Key+"="+string(h.Value))
	}
	return strings.Join(b, ",")
}

func TestRouteRow(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name    string
		cfg     Config
		row     connectors.Row
		topic   string
		key     string
		value   string
		headers string
		err     string // substring; the column's name
		is      error
	}{
		{name: "defaults", row: stdRow(), topic: "outbox.event.order", key: "42", value: `{"total":10}`,
			headers: "id=0190c1a2-0000-7000-8000-000000000001,type=OrderPlaced"},
		{name: "template with type", cfg: Config{Topic: "ev.{aggregatetype}.{type}"}, row: stdRow(),
			topic: "ev.order.OrderPlaced", key: "42", value: `{"total":10}`,
			headers: "id=0190c1a2-0000-7000-8000-000000000001,type=OrderPlaced"},
		{name: "fixed topic", cfg: Config{Topic: "events"}, row: stdRow(), topic: "events", key: "42", value: `{"total":10}`,
			headers: "id=0190c1a2-0000-7000-8000-000000000001,type=OrderPlaced"},
		{name: "key as written, not JSON-quoted", row: row("id", "i", "aggregatetype", "a", "aggregateid", `"quoted"`, "type", "t", "payload", json.RawMessage(`1`)),
			topic: "outbox.event.a", key: `"quoted"`, value: "1", headers: "id=i,type=t"},
		{name: "numeric aggregateid", row: row("id", "i", "aggregatetype", "a", "aggregateid", int64(7), "type", "t", "payload", json.RawMessage(`{}`)),
			topic: "outbox.event.a", key: "7", value: "{}", headers: "id=i,type=t"},
		{name: "mysql: JSON as text, id as bytes", row: row("id", []byte("i"), "aggregatetype", "a", "aggregateid", "k", "type", "t", "payload", `{"a": [1, 2]}`),
			topic: "outbox.event.a", key: "k", value: `{"a": [1, 2]}`, headers: "id=i,type=t"},
		{name: "headers column, sorted, reserved dropped, nulls dropped",
			row: row("id", "i", "aggregatetype", "a", "aggregateid", "k", "type", "t", "payload", json.RawMessage(`{}`),
				"headers", json.RawMessage(`{"z":"1","b":2,"id":"evil","n":null,"trace":"abc"}`)),
			topic: "outbox.event.a", key: "k", value: "{}", headers: "id=i,type=t,b=2,trace=abc,z=1"},
		{name: "null headers column", row: row("id", "i", "aggregatetype", "a", "aggregateid", "k", "type", "t", "payload", json.RawMessage(`{}`), "headers", nil),
			topic: "outbox.event.a", key: "k", value: "{}", headers: "id=i,type=t"},
		{name: "custom mapping and extra columns",
			cfg:   Config{Columns: Columns{ID: "event_id", AggregateType: "agg_type", AggregateID: "agg_id", Type: "event_type", Payload: "body", Extra: []string{"tenant", "absent", "nullcol"}}},
			row:   row("event_id", "e1", "agg_type", "cart", "agg_id", "c9", "event_type", "Added", "body", json.RawMessage(`[1]`), "tenant", int64(3), "nullcol", nil),
			topic: "outbox.event.cart", key: "c9", value: "[1]", headers: "id=e1,type=Added,tenant=3"},
		{name: "null payload", row: row("id", "i", "aggregatetype", "a", "aggregateid", "k", "type", "t", "payload", nil),
			topic: "outbox.event.a", key: "k", value: "null", headers: "id=i,type=t"},
		{name: "missing aggregatetype", row: row("id", "i", "aggregateid", "k", "type", "t", "payload", json.RawMessage(`{}`)),
			err: `"aggregatetype"`, is: ErrMissingColumn},
		{name: "missing mapped payload", cfg: Config{Columns: Columns{Payload: "body"}}, row: stdRow(), err: `"body"`, is: ErrMissingColumn},
		{name: "missing id", row: row("aggregatetype", "a", "aggregateid", "k", "type", "t", "payload", json.RawMessage(`{}`)), err: `"id"`, is: ErrMissingColumn},
		{name: "null aggregateid", row: row("id", "i", "aggregatetype", "a", "aggregateid", nil, "type", "t", "payload", json.RawMessage(`{}`)),
			err: `"aggregateid" is NULL`, is: ErrInvalidEvent},
		{name: "empty type", row: row("id", "i", "aggregatetype", "a", "aggregateid", "k", "type", "", "payload", json.RawMessage(`{}`)),
			err: `"type" is empty`, is: ErrInvalidEvent},
		{name: "payload text not JSON", row: row("id", "i", "aggregatetype", "a", "aggregateid", "k", "type", "t", "payload", "nope"),
			err: `"payload"`, is: ErrInvalidEvent},
		{name: "headers not an object", row: row("id", "i", "aggregatetype", "a", "aggregateid", "k", "type", "t", "payload", json.RawMessage(`{}`), "headers", json.RawMessage(`[1]`)),
			err: `"headers"`, is: ErrInvalidEvent},
		{name: "aggregatetype illegal in topic", row: row("id", "i", "aggregatetype", "a/b", "aggregateid", "k", "type", "t", "payload", json.RawMessage(`{}`)),
			err: `"aggregatetype"="a/b"`, is: ErrInvalidEvent},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r, err := New(tc.cfg)
			if err != nil {
				t.Fatal(err)
			}
			rec, err := r.RouteRow(tc.row)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) || !errors.Is(err, tc.is) {
					t.Fatalf("err = %v, want one containing %s and wrapping %v", err, tc.err, tc.is)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if rec.Topic != tc.topic || string(rec.Key) != tc.key || string(rec.Value) != tc.value || rec.Partition != -1 {
				t.Fatalf("got topic %q key %q value %q partition %d, want %q %q %q -1", rec.Topic, rec.Key, rec.Value, rec.Partition, tc.topic, tc.key, tc.value)
			}
			if got := headersOf(rec); got != tc.headers {
				t.Fatalf("headers %s, want %s", got, tc.headers)
			}
		})
	}
}

func TestRouteOnlyInserts(t *testing.T) {
	t.Parallel()
	r, err := New(Config{Table: "public.outbox"})
	if err != nil {
		t.Fatal(err)
	}
	for _, op := range []connectors.Op{connectors.OpRead, connectors.OpUpdate, connectors.OpDelete, connectors.OpTruncate} {
		if _, ok, err := r.Route(op, stdRow()); ok || err != nil {
			t.Errorf("op %s routed (%v, %v); only inserts route", op, ok, err)
		}
	}
	rec, ok, err := r.Route(connectors.OpCreate, stdRow())
	if !ok || err != nil || rec.Topic != "outbox.event.order" {
		t.Fatalf("insert: %v %v %+v", ok, err, rec)
	}
	if _, ok, err := r.Route(connectors.OpCreate, row("id", "x")); ok || !errors.Is(err, ErrMissingColumn) {
		t.Fatalf("broken insert: ok %v err %v", ok, err)
	}
}

func TestRouteMessage(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name, prefix, content string
		ok                    bool
		topic, key, value     string
		headers, err          string
	}{
		{name: "full", prefix: DefaultPrefix, ok: true,
			content: `{"id":"e1","aggregatetype":"order","aggregateid":"42","type":"Placed","payload":{"total": 10},"headers":{"trace":"t1","n":3}}`,
			topic:   "outbox.event.order", key: "42", value: `{"total": 10}`, headers: "id=e1,type=Placed,n=3,trace=t1"},
		{name: "numeric aggregateid as written", prefix: DefaultPrefix, ok: true,
			content: `{"id":"e1","aggregatetype":"order","aggregateid":42,"type":"Placed","payload":[1]}`,
			topic:   "outbox.event.order", key: "42", value: `[1]`, headers: "id=e1,type=Placed"},
		{name: "other prefix ignored", prefix: "someone.else", content: `garbage`},
		{name: "not JSON", prefix: DefaultPrefix, ok: true, content: `{`, err: "decoding content"},
		{name: "missing type", prefix: DefaultPrefix, ok: true,
			content: `{"id":"e1","aggregatetype":"order","aggregateid":"42","payload":{}}`, err: `field "type"`},
		{name: "id not a string", prefix: DefaultPrefix, ok: true,
			content: `{"id":1,"aggregatetype":"order","aggregateid":"42","type":"x","payload":{}}`, err: "message.id"},
		{name: "missing aggregateid", prefix: DefaultPrefix, ok: true,
			content: `{"id":"e1","aggregatetype":"order","type":"x","payload":{}}`, err: `field "aggregateid"`},
		{name: "missing payload", prefix: DefaultPrefix, ok: true,
			content: `{"id":"e1","aggregatetype":"order","aggregateid":"1","type":"x"}`, err: `field "payload"`},
		{name: "empty aggregatetype", prefix: DefaultPrefix, ok: true,
			content: `{"id":"e1","aggregatetype":"","aggregateid":"1","type":"x","payload":{}}`, err: `"aggregatetype" is empty`},
	}
	r, err := New(Config{})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			rec, ok, err := r.RouteMessage(tc.prefix, []byte(tc.content))
			if ok != tc.ok {
				t.Fatalf("ok = %v, want %v", ok, tc.ok)
			}
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) || !errors.Is(err, ErrInvalidEvent) {
					t.Fatalf("err = %v, want one containing %s", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !ok {
				return
			}
			if rec.Topic != tc.topic || string(rec.Key) != tc.key || string(rec.Value) != tc.value {
				t.Fatalf("got %q %q %q", rec.Topic, rec.Key, rec.Value)
			}
			if got := headersOf(rec); got != tc.headers {
				t.Fatalf("headers %s, want %s", got, tc.headers)
			}
		})
	}
}

func TestNewRejectsBadTemplates(t *testing.T) {
	t.Parallel()
	for _, tpl := range []string{"ev.{aggregateid}", "bad topic", "a/{type}", strings.Repeat("x", 250)} {
		if _, err := New(Config{Topic: tpl}); !errors.Is(err, ErrConfig) {
			t.Errorf("template %q: err = %v, want ErrConfig", tpl, err)
		}
	}
}

func TestTopicSpec(t *testing.T) {
	t.Parallel()
	r, err := New(FromPipeline(&connectors.OutboxConfig{Table: "public.outbox", Topic: "x.{type}",
		Columns: connectors.OutboxColumns{ID: "id", AggregateType: "aggregatetype", AggregateID: "aggregateid", Type: "type", Payload: "payload", Headers: "headers"}}, 6, 3))
	if err != nil {
		t.Fatal(err)
	}
	s := r.TopicSpec("x.y")
	if s.Name != "x.y" || s.Partitions != 6 || s.ReplicationFactor != 3 || s.Configs["cleanup.policy"] != "delete" {
		t.Fatalf("spec %+v: want not compacted, the source's partitions", s)
	}
	if r.Table() != "public.outbox" {
		t.Fatalf("table %q", r.Table())
	}
}

func TestCleaner(t *testing.T) {
	t.Parallel()
	type call struct {
		q    string
		args []any
	}
	var calls []call
	fail := false
	exec := func(_ context.Context, q string, args ...any) error {
		if fail {
			return errors.New("down")
		}
		calls = append(calls, call{q, args})
		return nil
	}
	c, err := NewCleaner(CleanerConfig{Table: "public.outbox", Dialect: Postgres, Exec: exec, BatchSize: 2})
	if err != nil {
		t.Fatal(err)
	}
	c.Add(10, "a", "b", "c")
	c.Add(20, "d")
	fail = true
	if err := c.Ack(context.Background(), 10); err == nil || c.Pending() != 4 {
		t.Fatalf("failed ack: err %v pending %d; want ids kept", err, c.Pending())
	}
	fail = false
	if err := c.Ack(context.Background(), 15); err != nil {
		t.Fatal(err)
	}
	if c.Pending() != 1 || len(calls) != 2 {
		t.Fatalf("pending %d calls %d; want a,b then c deleted, d kept (not yet durable)", c.Pending(), len(calls))
	}
	if calls[0].q != `DELETE FROM "public"."outbox" WHERE "id" = ANY($1)` || fmt.Sprint(calls[0].args) != "[[a b]]" || fmt.Sprint(calls[1].args) != "[[c]]" {
		t.Fatalf("calls %+v", calls)
	}
	m, err := NewCleaner(CleanerConfig{Table: "outbox", Dialect: MySQL, Exec: exec})
	if err != nil {
		t.Fatal(err)
	}
	calls = nil
	if _, err := m.Delete(context.Background(), []string{"x", "y"}); err != nil {
		t.Fatal(err)
	}
	if calls[0].q != "DELETE FROM `outbox` WHERE `id` IN (?,?)" || fmt.Sprint(calls[0].args) != "[x y]" {
		t.Fatalf("mysql call %+v", calls[0])
	}
	for _, bad := range []CleanerConfig{{Table: "t", Dialect: Postgres}, {Table: "a.b.c", Dialect: Postgres, Exec: exec}, {Table: "t", Exec: exec}} {
		if _, err := NewCleaner(bad); !errors.Is(err, ErrConfig) {
			t.Errorf("%+v: err %v", bad, err)
		}
	}
}
