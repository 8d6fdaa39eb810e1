package mysql

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/sluicehq/sluice/itest"
)

// A user without replication grants gets an error naming each grant.
func TestPrerequisiteGrants(t *testing.T) {
	t.Parallel()
	db, full, q := testDB(t)
	exec(t, db, q("CREATE TABLE $T (id INT PRIMARY KEY)"))
	d, err := itest.ParseMySQLDSN(itest.Need(t, itest.MySQL))
	if err != nil {
		t.Fatal(err)
	}
	user := "nogrant_" + strings.ReplaceAll(strings.Split(full, ".")[1], "-", "_")
	exec(t, db, fmt.Sprintf("CREATE USER '%s'@'%%' IDENTIFIED BY 'pw'", user),
		fmt.Sprintf("GRANT SELECT ON %s.* TO '%s'@'%%'", d.DB, user))
	t.Cleanup(func() { _, _ = db.Exec(fmt.Sprintf("DROP USER '%s'@'%%'", user)) })
	s, err := New(Config{Pipeline: "grants", DSN: fmt.Sprintf("%s:pw@tcp(%s)/%s", user, d.Addr(), d.DB), Tables: []string{full}})
	if err != nil {
		t.Fatal(err)
	}
	err = s.Open(context.Background(), nil)
	_ = s.Close(context.Background())
	if !errors.Is(err, ErrPrerequisite) || !strings.Contains(err.Error(), "REPLICATION SLAVE") || !strings.Contains(err.Error(), "REPLICATION CLIENT") {
		t.Fatalf("got %v, want ErrPrerequisite naming both grants", err)
	}
}

// A missing table and a table without a primary key are named at Open.
func TestOpenRejectsMissingAndKeylessTables(t *testing.T) {
	t.Parallel()
	db, full, q := testDB(t)
	exec(t, db, q("CREATE TABLE $T (v INT)"))
	s := newTestSource(t, []string{full, full + "_missing"}, nil)
	err := s.Open(context.Background(), nil)
	_ = s.Close(context.Background())
	if !errors.Is(err, ErrNoKey) || !errors.Is(err, ErrNoTable) || !strings.Contains(err.Error(), full+"_missing") {
		t.Fatalf("got %v", err)
	}
}
