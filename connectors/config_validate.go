package connectors

import (
	"fmt"
	"net"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// Validate reports every problem of c (after Defaults), joined with
// errors.Join, each a *FieldError naming its field path and, for a loaded
// file, file:line:col. It checks each field and the cross-field rules:
// embedded xor bootstrap, unique names and consumer groups, transform
// tables among the source's tables, sink topics non-empty, Redis key
// templates, and so on. It connects to nothing and reads no file.
func (c *Config) Validate() error {
	if errs := c.validate(); len(errs) > 0 {
		return joinSorted(errs)
	}
	return nil
}

type validator struct {
	m    *sourceMap
	errs []*FieldError
}

func (v *validator) add(path string, kind error, format string, args ...any) {
	if v.m.hasFailed(path) {
		return
	}
	fe := &FieldError{Pos: v.m.at(path), Path: path, Msg: fmt.Sprintf(format, args...), Kind: kind}
	if v.m != nil {
		fe.File = v.m.file
	}
	v.errs = append(v.errs, fe)
}

// where names path for a message: its line:col when known, else the path.
func (v *validator) where(path string) string {
	if p := v.m.at(path); p.Line > 0 {
		return fmt.Sprintf("%d:%d", p.Line, p.Col)
	}
	return path
}

func (v *validator) required(path string) { v.add(path, ErrRequired, "required") }

func (v *validator) oneOf(path, val string, allowed ...string) {
	if val == "" {
		v.required(path)
		return
	}
	if !slices.Contains(allowed, val) {
		v.add(path, ErrInvalid, "%q is not one of: %s", val, strings.Join(allowed, ", "))
	}
}

func (c *Config) validate() []*FieldError {
	v := &validator{m: c.src}
	switch {
	case c.Version == 0:
		v.add("version", ErrRequired, "required (this sluice reads version: 1)")
	case c.Version != ConfigVersion:
		v.add("version", ErrInvalid, "unsupported version %d (this sluice reads version: 1)", c.Version)
	}
	c.Broker.validate(v, "broker")
	if len(c.Pipelines) == 0 {
		v.add("pipelines", ErrRequired, "required (at least one pipeline)")
	}
	names := map[string]string{}
	groups := map[string]string{}
	for i := range c.Pipelines {
		p := &c.Pipelines[i]
		path := indexPath("pipelines", i)
		p.validate(v, path)
		if p.Name != "" {
			if first, dup := names[p.Name]; dup {
				v.add(path+".name", ErrDuplicate, "duplicate pipeline name %q (first at %s)", p.Name, v.where(first))
			} else {
				names[p.Name] = path + ".name"
			}
		}
		for j := range p.Sinks {
			g := p.Sinks[j].Group
			sp := indexPath(path+".sinks", j) + ".group"
			if g == "" {
				continue
			}
			if first, dup := groups[g]; dup {
				v.add(sp, ErrDuplicate, "consumer group %q is also the group of %s (at %s); two sinks in one group would split its partitions", g, parentPath(first), v.where(first))
			} else {
				groups[g] = sp
			}
		}
	}
	return v.errs
}

func (b *BrokerConfig) validate(v *validator, path string) {
	if b.Embedded != nil && b.Bootstrap != nil {
		v.add(path+".bootstrap", ErrConflict, "set embedded or bootstrap, not both")
	}
	if e := b.Embedded; e != nil {
		if e.DataDir == "" {
			v.required(path + ".embedded.data_dir")
		}
		checkListen(v, path+".embedded.listen", e.Listen)
	}
	if b.Bootstrap != nil {
		if len(b.Bootstrap) == 0 {
			v.add(path+".bootstrap", ErrRequired, "required (at least one host:port)")
		}
		for i, hp := range b.Bootstrap {
			checkHostPort(v, indexPath(path+".bootstrap", i), hp)
		}
	}
	if b.Bootstrap == nil {
		if b.TLS != nil {
			v.add(path+".tls", ErrConflict, "applies to bootstrap only (the embedded broker listens in plaintext)")
		}
		if b.SASL != nil {
			v.add(path+".sasl", ErrConflict, "applies to bootstrap only (the embedded broker has no SASL)")
		}
	}
	if b.TLS != nil {
		b.TLS.validate(v, path+".tls")
	}
	if s := b.SASL; s != nil {
		sp := path + ".sasl"
		v.oneOf(sp+".mechanism", s.Mechanism, "PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512")
		if s.Username == "" {
			v.required(sp + ".username")
		}
		if !s.Password.IsSet() && !v.m.hasFailed(sp+".password_file") {
			v.add(sp+".password", ErrRequired, "required (or password_file)")
		}
	}
}

func (t *TLSConfig) validate(v *validator, path string) {
	if (t.CertFile == "") != (t.KeyFile == "") {
		missing := "key_file"
		if t.CertFile == "" {
			missing = "cert_file"
		}
		v.add(path+"."+missing, ErrRequired, "required: cert_file and key_file go together")
	}
}

// checkListen checks a listen address: host:port, where an empty host
// (":9092") means every interface.
func checkListen(v *validator, path, hp string) {
	if strings.HasPrefix(hp, ":") {
		hp = "0.0.0.0" + hp
	}
	checkHostPort(v, path, hp)
}

func checkHostPort(v *validator, path, hp string) {
	if hp == "" {
		v.required(path)
		return
	}
	host, port, err := net.SplitHostPort(hp)
	if err != nil {
		v.add(path, ErrInvalid, "%q is not host:port", hp)
		return
	}
	n, err := strconv.Atoi(port)
	if err != nil || n < 1 || n > 65535 {
		v.add(path, ErrInvalid, "%q: port must be 1-65535", hp)
		return
	}
	if host == "" {
		v.add(path, ErrInvalid, "%q: host is empty", hp)
	}
}

var nameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]*$`)

func checkName(v *validator, path, name string) {
	switch {
	case name == "":
		v.required(path)
	case len(name) > 200:
		v.add(path, ErrInvalid, "longer than 200 characters")
	case !nameRE.MatchString(name):
		v.add(path, ErrInvalid, "%q must match [a-z0-9][a-z0-9_-]*", name)
	}
}

// topicProblem says why t is not a legal Kafka topic name, or "".
func topicProblem(t string) string {
	switch {
	case t == "":
		return "empty topic name"
	case t == "." || t == "..":
		return fmt.Sprintf("%q is not a legal topic name", t)
	case len(t) > maxKafkaTopicNameLength:
		return fmt.Sprintf("topic %q is longer than %d characters", t, maxKafkaTopicNameLength)
	}
	for i := 0; i < len(t); i++ {
		c := t[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			return fmt.Sprintf("topic %q holds %q; Kafka allows only [a-zA-Z0-9._-]", t, string(rune(c)))
		}
	}
	return ""
}

func checkTopic(v *validator, path, t string) {
	if t == "" {
		v.required(path)
		return
	}
	if p := topicProblem(t); p != "" {
		v.add(path, ErrInvalid, "%s", p)
	}
}

func (p *PipelineConfig) validate(v *validator, path string) {
	checkName(v, path+".name", p.Name)
	if p.Source == nil && len(p.Sinks) == 0 && !v.m.hasFailed(path+".sinks") {
		v.add(path, ErrRequired, "a pipeline needs a source, sinks, or both")
	}
	var tables map[string]bool
	if s := p.Source; s != nil {
		tables = s.validate(v, path+".source", p)
	}
	if len(p.Transforms) > 0 && p.Source == nil {
		v.add(path+".transforms", ErrConflict, "transforms run on a source's records; this pipeline has no source")
	}
	for i := range p.Transforms {
		p.Transforms[i].validate(v, indexPath(path+".transforms", i), p.Source != nil, tables)
	}
	names := map[string]string{}
	for i := range p.Sinks {
		sp := indexPath(path+".sinks", i)
		s := &p.Sinks[i]
		s.validate(v, sp)
		if s.Name != "" {
			if first, dup := names[s.Name]; dup {
				v.add(sp+".name", ErrDuplicate, "duplicate sink name %q in this pipeline (first at %s)", s.Name, v.where(first))
			} else {
				names[s.Name] = sp + ".name"
			}
		}
	}
}

var (
	identRE  = regexp.MustCompile(`^[a-z0-9_]+$`)
	columnRE = regexp.MustCompile(`^[^\s.]+$`)
)

// validate checks the source and returns its set of tables.
func (s *SourceConfig) validate(v *validator, path string, p *PipelineConfig) map[string]bool {
	// Defaults derived from a bad pipeline name are not reported again.
	badName := !nameRE.MatchString(p.Name)
	v.oneOf(path+".type", s.Type, SourcePostgres, SourceMySQL)
	if !s.DSN.IsSet() && !v.m.hasFailed(path+".dsn_file") {
		v.add(path+".dsn", ErrRequired, "required (or dsn_file)")
	}
	if s.DSN.IsSet() {
		// Never quote the DSN: it may hold a password.
		switch s.Type {
		case SourceMySQL:
			if !strings.Contains(s.DSN.value, "/") || strings.Contains(s.DSN.value, "://") {
				v.add(path+".dsn", ErrInvalid, "want a MySQL DSN like user:pass@tcp(host:3306)/db")
			}
		case SourcePostgres:
			if i := strings.Index(s.DSN.value, "://"); i >= 0 {
				if sch := s.DSN.value[:i]; sch != "postgres" && sch != "postgresql" {
					v.add(path+".dsn", ErrInvalid, "want a postgres:// or postgresql:// URL or key=value pairs")
				}
			} else if !strings.Contains(s.DSN.value, "=") {
				v.add(path+".dsn", ErrInvalid, "want a postgres:// or postgresql:// URL or key=value pairs")
			}
		}
	}
	v.oneOf(path+".snapshot", s.Snapshot, SnapshotInitial, SnapshotNever, SnapshotWhenNeeded, SnapshotInitialOnly)
	v.oneOf(path+".on_too_large", s.OnTooLarge, TooLargeStop, TooLargeDLQ)
	if s.DLQ.Topic != "" {
		checkTopic(v, path+".dlq.topic", s.DLQ.Topic)
	}
	prefixOK := true
	if s.TopicPrefix == "" || badName && s.TopicPrefix == p.Name {
		if !badName {
			v.required(path + ".topic_prefix")
		}
		prefixOK = false
	} else if p := topicProblem(s.TopicPrefix); p != "" {
		v.add(path+".topic_prefix", ErrInvalid, "%s", p)
		prefixOK = false
	}
	tables := map[string]bool{}
	if s.Tables == nil && s.Outbox == nil && !v.m.hasFailed(path+".tables") {
		v.add(path+".tables", ErrRequired, "required (or an outbox)")
	} else if s.Tables != nil && len(s.Tables) == 0 && s.Outbox == nil {
		v.add(path+".tables", ErrRequired, "required: an empty list captures nothing")
	}
	kind := "schema.table"
	if s.Type == SourceMySQL {
		kind = "database.table"
	}
	for i, t := range s.Tables {
		tp := indexPath(path+".tables", i)
		if !checkTable(v, tp, t, kind) {
			continue
		}
		if tables[t] {
			v.add(tp, ErrDuplicate, "%q is listed twice", t)
			continue
		}
		tables[t] = true
		if prefixOK {
			if p := topicProblem(s.ChangelogTopic(t)); p != "" {
				v.add(tp, ErrInvalid, "its changelog %s", p)
			}
		}
	}
	switch s.Type {
	case SourcePostgres:
		for _, f := range []struct{ key, val string }{{"slot", s.Slot}, {"publication", s.Publication}} {
			fp := path + "." + f.key
			switch {
			case badName && f.val == p.DefaultSlot():
			case f.val == "":
				v.required(fp)
			case len(f.val) > maxPostgresIdentifier:
				v.add(fp, ErrInvalid, "%q is longer than %d characters; set a shorter %s", f.val, maxPostgresIdentifier, f.key)
			case !identRE.MatchString(f.val):
				v.add(fp, ErrInvalid, "%q must match [a-z0-9_]+", f.val)
			}
		}
	case SourceMySQL:
		if s.Flavor != "" {
			v.oneOf(path+".flavor", s.Flavor, FlavorMySQL, FlavorMariaDB)
		}
	}
	if o := s.Outbox; o != nil {
		o.validate(v, path+".outbox", s, kind, tables)
	}
	return tables
}

// checkTable checks a schema.table (database.table) name.
func checkTable(v *validator, path, t, kind string) bool {
	if t == "" {
		v.required(path)
		return false
	}
	schema, table, ok := strings.Cut(t, ".")
	if !ok || !columnRE.MatchString(schema) || !columnRE.MatchString(table) {
		v.add(path, ErrInvalid, "%q: want %s", t, kind)
		return false
	}
	return true
}

var placeholderRE = regexp.MustCompile(`\{[^{}]*\}`)

func (o *OutboxConfig) validate(v *validator, path string, s *SourceConfig, kind string, tables map[string]bool) {
	switch {
	case o.Table == "" && o.Prefix == "":
		v.add(path+".table", ErrRequired, "required (or prefix, for pg_logical_emit_message events)")
	case o.Table != "" && o.Prefix != "":
		v.add(path+".prefix", ErrConflict, "set table or prefix, not both")
	case o.Prefix != "" && s.Type == SourceMySQL:
		v.add(path+".prefix", ErrConflict, "logical decoding messages are Postgres only; use an outbox table with mysql")
	}
	if o.Table != "" && checkTable(v, path+".table", o.Table, kind) && tables[o.Table] {
		v.add(path+".table", ErrConflict, "%q is also in tables; the outbox table gets no changelog topic", o.Table)
	}
	if o.Cleanup && o.Table == "" {
		v.add(path+".cleanup", ErrConflict, "cleanup deletes rows of an outbox table; messages (prefix) leave nothing to delete")
	}
	if o.Table == "" && o.Prefix != "" && o.Columns != (OutboxColumns{}) {
		v.add(path+".columns", ErrConflict, "columns map an outbox table; a prefix's messages have fixed fields")
	}
	for _, c := range []struct{ key, val string }{
		{"id", o.Columns.ID}, {"aggregatetype", o.Columns.AggregateType}, {"aggregateid", o.Columns.AggregateID},
		{"type", o.Columns.Type}, {"payload", o.Columns.Payload}, {"headers", o.Columns.Headers},
	} {
		if o.Table != "" && c.val == "" {
			v.required(path + ".columns." + c.key)
		}
	}
	if o.Topic == "" {
		v.required(path + ".topic")
		return
	}
	for _, ph := range placeholderRE.FindAllString(o.Topic, -1) {
		if ph != "{aggregatetype}" && ph != "{type}" {
			v.add(path+".topic", ErrInvalid, "placeholder %s: only {aggregatetype} and {type} are known", ph)
			return
		}
	}
	if p := topicProblem(placeholderRE.ReplaceAllString(o.Topic, "x")); p != "" {
		v.add(path+".topic", ErrInvalid, "template %q: %s", o.Topic, p)
	}
}

func (t *TransformConfig) validate(v *validator, path string, hasSource bool, tables map[string]bool) {
	v.oneOf(path+".type", t.Type, TransformFilter, TransformDropFields, TransformMaskFields, TransformRenameFields, TransformRoute)
	inSource := func(tp, tb string) {
		if tb == "" {
			v.required(tp)
			return
		}
		if hasSource && !tables[tb] && !v.m.hasFailed(tp) {
			v.add(tp, ErrInvalid, "%q is not among the source's tables", tb)
		}
	}
	switch t.Type {
	case TransformFilter:
		for i, tb := range t.Tables {
			inSource(indexPath(path+".tables", i), tb)
		}
		if len(t.Ops) == 0 {
			v.add(path+".ops", ErrRequired, "required (some of r c u d t)")
		}
		for i, op := range t.Ops {
			if !op.Valid() {
				v.add(indexPath(path+".ops", i), ErrInvalid, "%q is not an op; want r, c, u, d or t", string(op))
			}
		}
	case TransformDropFields, TransformMaskFields:
		inSource(path+".table", t.Table)
		if len(t.Fields) == 0 {
			v.add(path+".fields", ErrRequired, "required (a non-empty list of columns)")
		}
		for i, f := range t.Fields {
			if f == "" {
				v.required(indexPath(path+".fields", i))
			}
		}
	case TransformRenameFields:
		inSource(path+".table", t.Table)
		if len(t.Rename) == 0 {
			v.add(path+".fields", ErrRequired, "required (a mapping old: new)")
		}
		to := map[string]string{}
		for _, old := range sortedKeys(t.Rename) {
			nw := t.Rename[old]
			fp := path + ".fields." + old
			switch {
			case nw == "":
				v.required(fp)
			case to[nw] != "":
				v.add(fp, ErrDuplicate, "%q and %q would both become %q", to[nw], old, nw)
			default:
				to[nw] = old
			}
		}
	case TransformRoute:
		if len(t.Tables) == 0 {
			v.add(path+".tables", ErrRequired, "required (a non-empty list)")
		}
		for i, tb := range t.Tables {
			inSource(indexPath(path+".tables", i), tb)
		}
		checkTopic(v, path+".topic", t.Topic)
	}
}

func (s *SinkConfig) validate(v *validator, path string) {
	checkName(v, path+".name", s.Name)
	v.oneOf(path+".type", s.Type, SinkElasticsearch, SinkRedis)
	if len(s.Topics) == 0 {
		v.add(path+".topics", ErrRequired, "required (a non-empty list)")
	}
	seen := map[string]bool{}
	for i, t := range s.Topics {
		tp := indexPath(path+".topics", i)
		checkTopic(v, tp, t)
		if seen[t] {
			v.add(tp, ErrDuplicate, "%q is listed twice", t)
		}
		seen[t] = true
	}
	if s.Group == "" {
		v.required(path + ".group")
	}
	v.oneOf(path+".value", s.Value, SinkValueEnvelope, SinkValueDocument)
	if s.DLQ.Topic != "" {
		checkTopic(v, path+".dlq.topic", s.DLQ.Topic)
		if seen[s.DLQ.Topic] {
			v.add(path+".dlq.topic", ErrConflict, "%q is also one of the sink's topics: rejected records would come back", s.DLQ.Topic)
		}
	}
	if es := s.Elasticsearch; es != nil {
		es.validate(v, path)
	}
	if r := s.Redis; r != nil {
		r.validate(v, path)
	}
}

// esIndexBad holds the characters Elasticsearch refuses in index names.
const esIndexBad = `\/*?"<>| ,#:`

func (es *ElasticsearchConfig) validate(v *validator, path string) {
	if !es.URL.IsSet() {
		v.required(path + ".url")
	} else if u, err := url.Parse(es.URL.value); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		v.add(path+".url", ErrInvalid, "want http(s)://host:port")
	}
	ip := path + ".index"
	switch ix := es.Index; {
	case ix == "":
		v.required(ip)
	case ix != strings.ToLower(ix):
		v.add(ip, ErrInvalid, "%q must be lowercase", ix)
	case strings.ContainsAny(ix, esIndexBad):
		v.add(ip, ErrInvalid, "%q holds one of %s", ix, esIndexBad)
	case strings.IndexAny(ix[:1], "-_+.") == 0:
		v.add(ip, ErrInvalid, "%q must not start with -, _, + or .", ix)
	case len(ix) > 200:
		v.add(ip, ErrInvalid, "longer than 200 bytes (the dated index name adds more)")
	}
	if es.Password.IsSet() && es.Username == "" {
		v.add(path+".username", ErrRequired, "required with password")
	}
	if es.Username != "" && !es.Password.IsSet() && !v.m.hasFailed(path+".password_file") {
		v.add(path+".password", ErrRequired, "required with username (or password_file)")
	}
	if es.APIKey.IsSet() && es.Username != "" {
		v.add(path+".api_key", ErrConflict, "set api_key or username/password, not both")
	}
	if es.BatchSize < 1 {
		v.add(path+".batch_size", ErrInvalid, "must be at least 1")
	}
	if es.KeepIndexes < 0 {
		v.add(path+".keep_indexes", ErrInvalid, "must be 0 or more")
	}
}

func (r *RedisConfig) validate(v *validator, path string) {
	switch {
	case r.Addr == "" && r.Addrs == nil:
		if !v.m.hasFailed(path+".addrs") && !v.m.hasFailed(path+".addr") {
			v.add(path+".addr", ErrRequired, "required (or addrs, for Redis Cluster)")
		}
	case r.Addr != "" && r.Addrs != nil:
		v.add(path+".addrs", ErrConflict, "set addr or addrs, not both")
	case r.Addr != "":
		checkHostPort(v, path+".addr", r.Addr)
	case len(r.Addrs) == 0:
		v.add(path+".addrs", ErrRequired, "required (at least one host:port)")
	}
	for i, a := range r.Addrs {
		checkHostPort(v, indexPath(path+".addrs", i), a)
	}
	if r.Key != "" {
		if msg := keyTemplateProblem(r.Key); msg != "" {
			v.add(path+".key", ErrInvalid, "%s", msg)
		}
	}
	v.oneOf(path+".mode", r.Mode, RedisModeString, RedisModeHash)
	if r.TTL < 0 {
		v.add(path+".ttl", ErrInvalid, "must not be negative")
	}
	if r.DB < 0 {
		v.add(path+".db", ErrInvalid, "must be 0 or more")
	}
	if len(r.Addrs) > 0 && r.DB != 0 {
		v.add(path+".db", ErrConflict, "Redis Cluster has only database 0")
	}
	if r.TLS != nil {
		r.TLS.validate(v, path+".tls")
	}
}

// keyTemplateProblem checks a Redis key template with the grammar
// sinks/redis parses (it cannot be imported here): literal text as written,
// `{column}` placeholders replaced by key values (which the sink escapes
// with `\` before `:` and `\`); a stray `}`, an unclosed, nested or empty
// placeholder, or no placeholder at all is an error. It returns "" when the
// template is good.
func keyTemplateProblem(s string) string {
	n := 0
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '}':
			return fmt.Sprintf("key template %q: '}' at offset %d closes no placeholder", s, i)
		case '{':
			end := strings.IndexAny(s[i+1:], "{}")
			if end < 0 {
				return fmt.Sprintf("key template %q: placeholder at offset %d is not closed", s, i)
			}
			end += i + 1
			if s[end] == '{' {
				return fmt.Sprintf("key template %q: placeholder at offset %d contains '{'", s, i)
			}
			if end == i+1 {
				return fmt.Sprintf("key template %q: empty placeholder {} at offset %d", s, i)
			}
			n++
			i = end
		}
	}
	if n == 0 {
		return fmt.Sprintf("key template %q has no {column} placeholder: every row would share one key", s)
	}
	return ""
}

func sortedKeys(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}
