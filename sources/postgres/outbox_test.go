package postgres

import (
	"errors"
	"strings"
	"testing"

	"github.com/sluicehq/sluice/outbox/router"
)

func mustRouter(t *testing.T, cfg router.Config) *router.Router {
	t.Helper()
	rt, err := router.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return rt
}

func TestOutboxConfig(t *testing.T) {
	t.Parallel()
	tableRT := mustRouter(t, router.Config{Table: "public.outbox"})
	msgRT := mustRouter(t, router.Config{Prefix: "app.outbox"})
	tests := []struct {
		name    string
		tables  []string
		rt      *router.Router
		cleanup bool
		wantErr string // substring; empty: valid
	}{
		{"no tables no outbox", nil, nil, false, "tables: required"},
		{"outbox table without tables", nil, tableRT, false, ""},
		{"message outbox without tables", nil, msgRT, false, ""},
		{"outbox table plus tables", []string{"public.orders"}, tableRT, false, ""},
		{"outbox table also in tables", []string{"outbox"}, tableRT, false, "outbox.table"},
		{"outbox table also in tables qualified", []string{"public.outbox"}, tableRT, false, "outbox.table"},
		{"bad outbox table name", nil, mustRouter(t, router.Config{Table: "a.b.c"}), false, "outbox.table"},
		{"cleanup of an outbox table", nil, tableRT, true, ""},
		{"cleanup of messages", nil, msgRT, true, "outbox_cleanup"},
		{"cleanup without outbox", []string{"public.orders"}, nil, true, "outbox_cleanup"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := New(Config{Pipeline: "p", DSN: "postgres://x", Tables: tc.tables, Outbox: tc.rt, OutboxCleanup: tc.cleanup})
			switch {
			case tc.wantErr == "" && err != nil:
				t.Fatalf("New: %v", err)
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr) || !errors.Is(err, ErrConfig)):
				t.Fatalf("New: got %v, want ErrConfig naming %q", err, tc.wantErr)
			}
		})
	}
}

func TestOutboxTopicSpec(t *testing.T) {
	t.Parallel()
	rt := mustRouter(t, router.Config{Table: "public.outbox", Partitions: 3})
	s, err := New(Config{Pipeline: "p", DSN: "postgres://x", Tables: []string{"public.orders"}, Partitions: 3, Outbox: rt})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		topic, policy string
	}{
		{"p.public.orders", "compact"},
		{"outbox.event.order", "delete"},
	}
	for _, tc := range tests {
		spec := s.TopicSpec(tc.topic)
		if spec.Name != tc.topic || spec.Configs["cleanup.policy"] != tc.policy || spec.Partitions != 3 {
			t.Errorf("TopicSpec(%q) = %+v, want cleanup.policy %s, 3 partitions", tc.topic, spec, tc.policy)
		}
	}
	plain, err := New(Config{Pipeline: "p", DSN: "postgres://x", Tables: []string{"public.orders"}})
	if err != nil {
		t.Fatal(err)
	}
	if got := plain.TopicSpec("outbox.event.order").Configs["cleanup.policy"]; got != "compact" {
		t.Errorf("without an outbox every topic is a changelog: got %s", got)
	}
}
