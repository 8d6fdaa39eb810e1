// Package connectors owns the connector runtime's contracts and the pipeline
// file.
//
// Runtime contracts: the Source and Sink interfaces, Record, Batch,
// Position, the change envelope and the runtime that supervises sources and
// sinks over the Kafka protocol (see DESIGN.md; those parts are written and
// documented by their owners in record.go, runtime.go and friends).
//
// Pipeline file (config*.go, interpolate.go, secret.go, errors.go): the YAML
// that CONTRACTS.md "Pipeline file" fixes, decoded into Config.
//
//	data  ──parse YAML (go.yaml.in/yaml/v3, node tree with line:col)
//	      ──strict walk: unknown keys, wrong kinds, ${VAR} expansion per
//	        scalar, *_file secrets read
//	      ──Defaults()  explicit code, idempotent
//	      ──Validate()  every field and cross-field rule
//	      ──> *Config, or errors.Join of *FieldError sorted by position
//
// Invariants:
//
//   - Every problem is reported, not just the first: Load and Validate
//     return errors.Join of *FieldError, each printing as
//     `file:line:col: path: msg` (pipeline.yaml:12:9:
//     pipelines[0].sinks[1].index: required). A missing field names the
//     position of the mapping that lacks it; an unknown key names the key.
//   - Unknown keys are errors, also keys of another type (an elasticsearch
//     field on a redis sink, a mysql field on a postgres source).
//   - ${VAR} and ${VAR:-default} are expanded inside parsed scalar values,
//     never in the YAML text, so an environment value can never change the
//     file's structure; `$$` is a literal `$`. An unset ${VAR} without a
//     default is an error naming VAR.
//   - Secrets (passwords, API keys, DSN passwords) are held in Secret and
//     DSN, which redact themselves in every printed form (fmt, slog, JSON,
//     YAML); no message, String or Summary holds one. A secret may come
//     from a file (password_file, api_key_file, dsn_file), read by Load.
//   - Load connects to nothing. It reads only the pipeline file and the
//     *_file secrets; TLS files are read when connecting.
//   - The schema is version 1; a future version adds a changelog here and
//     warns on deprecated keys.
package connectors
