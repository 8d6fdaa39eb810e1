// Package conformance is the test suite every Source and Sink runs, so the
// runtime can rely on the contracts written on connectors.Source and
// connectors.Sink whatever the connector.
//
// A connector's test calls RunSource or RunSink with a harness that knows
// how to make changes upstream (a source) or read the target (a sink):
//
//	func TestConformance(t *testing.T) {
//		conformance.RunSource(t, conformance.SourceHarness{New: ..., Emit: ..., Identify: ...})
//	}
//
// Source checks: resume from an acknowledged position (nothing after it is
// lost, nothing before it comes back), no loss across a restart without an
// ack, re-delivery yields the same records in the same order, acks of every
// returned position in order (empty batches too), Read returning on ctx
// cancel and after Close, and recovery from a broken upstream connection.
//
// Sink checks: upserts and deletes (delete envelope, tombstone), idempotent
// effect of re-delivery (a batch written again, a replay from an older
// offset), a new instance continuing after Close, Close with nothing
// written, per-record rejection reported as *connectors.BatchError with the
// rest applied, and whole-batch failure while the target is down.
//
// The suite has no timing assertions: waits are bounded by a generous
// deadline that only guards against hangs. Owner: connectors runtime.
package conformance
