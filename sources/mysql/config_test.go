package mysql

import (
	"errors"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestConfigValidate(t *testing.T) {
	t.Parallel()
	ok := Config{Pipeline: "shop", DSN: "u:secret@tcp(127.0.0.1:3306)/db", Tables: []string{"db.t"}}
	dir := t.TempDir()
	notPEM, caPEM := filepath.Join(dir, "junk"), filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(notPEM, []byte("not a certificate"), 0o600); err != nil {
		t.Fatal(err)
	}
	ca, _ := newCA(t, "unit CA")
	writePEM(t, caPEM, "CERTIFICATE", ca.Raw)
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
		{"ca_file missing", func(c *Config) { c.DSN += "?ca_file=%2Fnonexistent%2Fca.pem" }, "ca_file"},
		{"ca_file not PEM", func(c *Config) { c.DSN += "?ca_file=" + url.QueryEscape(notPEM) }, "no PEM certificate"},
		{"ca_file with tls=false", func(c *Config) { c.DSN += "?tls=false&ca_file=" + url.QueryEscape(caPEM) }, "need TLS"},
		{"cert without key", func(c *Config) { c.DSN += "?cert_file=" + url.QueryEscape(caPEM) }, "go together"},
		{"ca_file", func(c *Config) { c.DSN += "?ca_file=" + url.QueryEscape(caPEM) }, ""},
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

// TestDSNTLS: ca_file turns TLS on with the file's roots, verifies the
// DSN's host, and never reaches the driver as a session variable.
func TestDSNTLS(t *testing.T) {
	t.Parallel()
	caPEM := filepath.Join(t.TempDir(), "ca.pem")
	ca, _ := newCA(t, "unit CA")
	writePEM(t, caPEM, "CERTIFICATE", ca.Raw)
	cfg, err := parseDSN("u:p@tcp(db.example:3306)/x?ca_file=" + url.QueryEscape(caPEM) + "&sql_mode=ANSI")
	if err != nil {
		t.Fatal(err)
	}
	if cfg.TLS == nil || cfg.TLS.RootCAs == nil || cfg.TLS.ServerName != "db.example" || cfg.TLS.InsecureSkipVerify {
		t.Fatalf("tls %+v", cfg.TLS)
	}
	if _, ok := cfg.Params["ca_file"]; ok || cfg.Params["sql_mode"] != "ANSI" {
		t.Fatalf("params %v", cfg.Params)
	}
	plain, err := parseDSN("u:p@tcp(db.example:3306)/x")
	if err != nil || plain.TLS != nil {
		t.Fatalf("no tls asked: %+v, %v", plain.TLS, err)
	}
}
