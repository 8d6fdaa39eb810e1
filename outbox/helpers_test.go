package outbox_test

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"testing"
	"time"

	_ "github.com/go-sql-driver/mysql" // database/sql driver "mysql"
	"github.com/jackc/pgx/v5"
	_ "github.com/jackc/pgx/v5/stdlib" // database/sql driver "pgx"

	"github.com/sluicehq/sluice/itest"
	"github.com/sluicehq/sluice/outbox"
)

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 45*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func uniq(prefix string) string {
	b := make([]byte, 5)
	_, _ = rand.Read(b)
	return prefix + "_" + hex.EncodeToString(b)
}

// pgConn connects to the test Postgres.
func pgConn(t *testing.T) *pgx.Conn {
	t.Helper()
	dsn := itest.Need(t, itest.Postgres)
	c, err := pgx.Connect(ctxT(t), dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close(context.Background()) })
	return c
}

// pgTable creates a fresh outbox table from the shipped DDL and drops it at
// the end of the test.
func pgTable(t *testing.T, c *pgx.Conn) string {
	t.Helper()
	table := "public." + uniq("outbox_t")
	ddl, err := outbox.DDL(outbox.Postgres, table)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Exec(ctxT(t), ddl); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _, _ = c.Exec(context.Background(), "DROP TABLE IF EXISTS "+table) })
	return table
}

func mysqlDB(t *testing.T) *sql.DB {
	t.Helper()
	dsn := itest.Need(t, itest.MySQL)
	db, err := sql.Open("mysql", dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	if err := db.PingContext(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	return db
}

func must[T any](v T, err error) func(t *testing.T) T {
	return func(t *testing.T) T {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
}
