// Package builtin maps a loaded pipeline file (connectors.Config) to the
// runtime's PipelineSpecs, with the connectors built into the sluice binary:
// a registry from source and sink type names to constructors.
//
// It sits apart from package connectors because it imports the connector
// packages, which themselves import connectors.
//
// Every run of a supervised source or sink gets a fresh instance, so a
// restart never reuses a closed one. Connectors register their metrics in
// New; the registerer handed to them replaces an earlier instance's
// collectors, so a restart re-registers instead of failing (the counters of
// the new instance start from zero, which Prometheus reads as a reset).
//
// Owner: connectors runtime.
package builtin
