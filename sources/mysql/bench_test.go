package mysql

import (
	"context"
	"fmt"
	osexec "os/exec"
	"testing"
	"time"

	"github.com/sluicehq/sluice/itest"
)

// BenchmarkStreamDecode measures binlog rows decoded into records (key +
// Debezium envelope) per second, against mariadb-binlog reading the same
// binlog range from the server raw (--raw) and decoding rows (-vv), timed in
// the same run. Run (docs/benchmarks.md):
//
//	eval "$(scripts/services env)"
//	go test -run '^$' -bench StreamDecode -benchtime 3x ./sources/mysql/
func BenchmarkStreamDecode(b *testing.B) {
	const rows, perTxn = 200_000, 10_000
	dsn := itest.Need(b, itest.MySQL)
	d, err := itest.ParseMySQLDSN(dsn)
	if err != nil {
		b.Fatal(err)
	}
	db, full, q := testDB(b)
	exec(b, db, q(`CREATE TABLE $T (id INT PRIMARY KEY, a VARCHAR(32), n BIGINT, f DOUBLE, at DATETIME(6), amount DECIMAL(12,2), flag TINYINT UNSIGNED)`))
	ctx := context.Background()
	start, err := currentPoint(ctx, db, FlavorMariaDB)
	if err != nil {
		b.Fatal(err)
	}
	for i := 0; i < rows; i += perTxn {
		exec(b, db, q(fmt.Sprintf(`INSERT INTO $T SELECT seq, CONCAT('value-', seq), seq * 7919, seq / 3, '2024-01-02 03:04:05.678901' + INTERVAL seq SECOND, seq / 100, seq %% 256 FROM seq_%d_to_%d`, i+1, i+perTxn)))
	}
	sc, err := loadSchema(ctx, db, d.DB, full[len(d.DB)+1:], true)
	if err != nil {
		b.Fatal(err)
	}
	from := (&wirePosition{Flavor: FlavorMariaDB, GTID: start.gtid, File: start.file, Pos: start.pos,
		Schemas: encodeSchemas(map[string]*tableSchema{full: sc})}).encode()

	peer := func(args ...string) float64 {
		all := append([]string{"--no-defaults", "--read-from-remote-server", "-h", d.Host, "-P", fmt.Sprint(d.Port), "-u", d.User, "-p" + d.Password,
			"--start-position", fmt.Sprint(start.pos), "--to-last-log"}, args...)
		all = append(all, start.file)
		t0 := time.Now()
		out, err := osexec.Command("mariadb-binlog", all...).CombinedOutput()
		if err != nil {
			b.Fatalf("mariadb-binlog %v: %v: %s", args, err, out[:min(len(out), 500)])
		}
		return float64(rows) / time.Since(t0).Seconds()
	}
	dir := b.TempDir()
	raw := peer("--raw", "--result-file="+dir+"/")
	verbose := peer("--base64-output=decode-rows", "-vv", "--result-file="+dir+"/verbose.txt")

	b.ResetTimer()
	t0 := time.Now()
	for range b.N {
		s, err := New(Config{Pipeline: "bench", DSN: dsn, Tables: []string{full}, MaxBatch: 8192})
		if err != nil {
			b.Fatal(err)
		}
		if err := s.Open(ctx, from); err != nil {
			b.Fatal(err)
		}
		n := 0
		for n < rows {
			batch, err := s.Read(ctx)
			if err != nil {
				b.Fatal(err)
			}
			n += len(batch.Records)
		}
		_ = s.Close(ctx)
	}
	el := time.Since(t0).Seconds() / float64(b.N)
	ours := float64(rows) / el
	b.ReportMetric(ours, "rows/s")
	b.ReportMetric(raw, "raw_rows/s")
	b.ReportMetric(verbose, "vv_rows/s")
	b.ReportMetric(ours/verbose, "x_vv")
	b.ReportMetric(ours/raw, "x_raw")
}
