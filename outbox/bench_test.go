package outbox_test

import (
	"strconv"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/sluicehq/sluice/itest"
	"github.com/sluicehq/sluice/outbox"
)

// BenchmarkWritePostgres measures committed events per second: one
// transaction per op carrying `batch` events in one Write, table and
// message mode. It needs SLUICE_TEST_PG_DSN (or Docker).
//
//	go test -run XXX -bench WritePostgres -benchtime 2000x ./outbox/
func BenchmarkWritePostgres(b *testing.B) {
	dsn := itest.Need(b, itest.Postgres)
	ctx := b.Context()
	c, err := pgx.Connect(ctx, dsn)
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close(ctx)
	table := "public." + uniq("outbox_bench")
	ddl, _ := outbox.DDL(outbox.Postgres, table)
	if _, err := c.Exec(ctx, ddl); err != nil {
		b.Fatal(err)
	}
	defer c.Exec(ctx, "DROP TABLE IF EXISTS "+table) //nolint:errcheck // best effort
	for _, mode := range []struct {
		name string
		m    outbox.Mode
	}{{"table", outbox.TableMode}, {"message", outbox.MessageMode}} {
		w, err := outbox.New(outbox.WithTable(table), outbox.WithMode(mode.m), outbox.WithPrefix(uniq("bench")))
		if err != nil {
			b.Fatal(err)
		}
		for _, batch := range []int{1, 10, 100} {
			b.Run(mode.name+"/batch="+strconv.Itoa(batch), func(b *testing.B) {
				evs := events(batch, "bench")
				for b.Loop() {
					for i := range evs {
						evs[i].ID = ""
					}
					if err := pgx.BeginFunc(ctx, c, func(tx pgx.Tx) error { return w.Write(ctx, tx, evs...) }); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(float64(b.N*batch)/b.Elapsed().Seconds(), "events/s")
			})
		}
	}
}
