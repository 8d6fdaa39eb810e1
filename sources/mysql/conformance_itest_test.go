package mysql

import (
	"fmt"
	"testing"

	"github.com/sluicehq/sluice/connectors"
	"github.com/sluicehq/sluice/connectors/conformance"
)

func TestConformance(t *testing.T) {
	t.Parallel()
	db, full, q := testDB(t)
	exec(t, db, q("CREATE TABLE $T (id INT PRIMARY KEY, v INT)"))
	next := 0
	conformance.RunSource(t, conformance.SourceHarness{
		New: func(t *testing.T) connectors.Source { return newTestSource(t, []string{full}, nil) },
		Emit: func(t *testing.T, n int) []conformance.Change {
			var out []conformance.Change
			for range n {
				next++
				exec(t, db, q(fmt.Sprintf("INSERT INTO $T VALUES (%d, %d)", next, next)))
				out = append(out, conformance.Change(fmt.Sprintf("%d", next)))
			}
			return out
		},
		Identify: func(r connectors.Record) (conformance.Change, bool) {
			if r.Value == nil {
				return "", false
			}
			e, err := connectors.DecodeEnvelope(r.Value)
			if err != nil || connectors.IsNull(e.After) {
				return "", false
			}
			row, err := connectors.ParseRow(e.After)
			if err != nil {
				return "", false
			}
			v, _ := row.Get("v")
			return conformance.Change(connectors.KeyText(v)), true
		},
	})
}
