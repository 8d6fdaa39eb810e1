package mysql

import (
	"errors"
	"strings"
	"testing"
)

func TestConfigValidate(t *testing.T) {
	t.Parallel()
	ok := Config{Pipeline: "shop", DSN: "u:secret@tcp(127.0.0.1:3306)/db", Tables: []string{"db.t"}}
	tests := []struct {
		name string
		mut  func(*Config)
		want string // substring of the error; empty: valid
	}{
		{"valid", func(*Config) {}, ""},
		{"pipeline", func(c *Config) { c.Pipeline = "Bad Name" }, "pipeline"},
		{"dsn", func(c *Config) { c.DSN = "nope" }, "dsn"},
		{"unix dsn", func(c *Config) { c.DSN = "u:p@unix(/tmp/s)/db" }, "dsn"},
		{"tables", func(c *Config) { c.Tables = nil }, "tables: required"},
		{"table name", func(c *Config) { c.Tables = []string{"t"} }, "tables[0]"},
		{"snapshot", func(c *Config) { c.Snapshot = "sometimes" }, "snapshot"},
		{"flavor", func(c *Config) { c.Flavor = "oracle" }, "flavor"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c := ok
			tc.mut(&c)
			_, err := New(c)
			if tc.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want ErrConfig naming %s", err, tc.want)
			}
		})
	}
}

func TestConfigDefaultsAndRedaction(t *testing.T) {
	t.Parallel()
	c := Config{Pipeline: "shop", DSN: "u:secret@tcp(127.0.0.1:3306)/db", Tables: []string{"db.t"}}
	c.Defaults()
	if c.TopicPrefix != "shop" || c.Snapshot != SnapshotInitial || c.ServerID < 1_000_000 {
		t.Fatalf("defaults %+v", c)
	}
	d := c
	d.Defaults()
	if d.ServerID != c.ServerID {
		t.Fatal("server id not stable")
	}
	if s := c.String(); strings.Contains(s, "secret") {
		t.Fatalf("password in %s", s)
	}
	s, err := New(c)
	if err != nil {
		t.Fatal(err)
	}
	if got := s.Topics(); len(got) != 1 || got[0] != "shop.db.t" {
		t.Fatalf("topics %v", got)
	}
	if spec := s.TopicSpec("shop.db.t"); spec.Configs["cleanup.policy"] != "compact" {
		t.Fatalf("spec %+v", spec)
	}
}
