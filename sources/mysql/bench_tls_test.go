package mysql

import (
	"context"
	"fmt"
	"net/url"
	"testing"
	"time"
)

// BenchmarkStreamTLS measures binlog rows decoded into records per second
// over a plaintext and over a TLS binlog connection to the same private
// MariaDB, alternating in the same run (the TLS cost of the replication
// stream). Run:
//
//	eval "$(scripts/services env)"
//	go test -run '^$' -bench StreamTLS -benchtime 3x ./sources/mysql/
func BenchmarkStreamTLS(b *testing.B) {
	const rows, perTxn = 200_000, 10_000
	srv := startTLSMariaDB(b, "--require-secure-transport=OFF")
	ctx := context.Background()
	exec(b, srv.root, `CREATE TABLE sluice.b (id INT PRIMARY KEY, a VARCHAR(32), n BIGINT, f DOUBLE, at DATETIME(6), amount DECIMAL(12,2), flag TINYINT UNSIGNED)`)
	start, err := currentPoint(ctx, srv.root, FlavorMariaDB)
	if err != nil {
		b.Fatal(err)
	}
	for i := 0; i < rows; i += perTxn {
		exec(b, srv.root, fmt.Sprintf(`INSERT INTO sluice.b SELECT seq, CONCAT('value-', seq), seq * 7919, seq / 3, '2024-01-02 03:04:05.678901' + INTERVAL seq SECOND, seq / 100, seq %% 256 FROM sluice.seq_%d_to_%d`, i+1, i+perTxn))
	}
	sc, err := loadSchema(ctx, srv.root, "sluice", "b", true)
	if err != nil {
		b.Fatal(err)
	}
	from := (&wirePosition{Flavor: FlavorMariaDB, GTID: start.gtid, File: start.file, Pos: start.pos,
		Schemas: encodeSchemas(map[string]*tableSchema{"sluice.b": sc})}).encode()
	stream := func(dsn string) time.Duration {
		s, err := New(Config{Pipeline: "bench-tls", DSN: dsn, Tables: []string{"sluice.b"}, MaxBatch: 8192})
		if err != nil {
			b.Fatal(err)
		}
		t0 := time.Now()
		if err := s.Open(ctx, from); err != nil {
			b.Fatal(err)
		}
		defer s.Close(ctx)
		for n := 0; n < rows; {
			batch, err := s.Read(ctx)
			if err != nil {
				b.Fatal(err)
			}
			n += len(batch.Records)
		}
		return time.Since(t0)
	}
	var plain, tls time.Duration
	b.ResetTimer()
	for range b.N {
		plain += stream(srv.dsn(""))
		tls += stream(srv.dsn("?ca_file=" + url.QueryEscape(srv.caFile)))
	}
	p := float64(rows*b.N) / plain.Seconds()
	t := float64(rows*b.N) / tls.Seconds()
	b.ReportMetric(p, "plain_rows/s")
	b.ReportMetric(t, "tls_rows/s")
	b.ReportMetric(t/p, "x_plain")
}
