package elasticsearch

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Defaults of Config.
const (
	DefaultBulkMaxDocs  = 1000
	DefaultBulkMaxBytes = 5 << 20
	DefaultRetryTimeout = 30 * time.Second

	// Record value formats (Config.Value).
	ValueEnvelope = "envelope" // a change event: op, before, after (default)
	ValueDocument = "document" // the value is the document itself (outbox payloads)
)

// Config configures an Elasticsearch sink; the connectors runtime fills it
// from the pipeline file's sink block (CONTRACTS.md "Pipeline file").
type Config struct {
	Pipeline string // pipeline name, for logs and metrics
	Name     string // sink name, for logs and metrics

	// URL is one node, http(s)://host:port; URLs lists several (the client
	// round-robins). At least one must be set.
	URL  string
	URLs []string

	Username, Password string // basic auth; Password is never logged
	APIKey             string // base64 API key, instead of username/password
	CAFile             string // PEM roots for https; empty = system roots
	InsecureSkipVerify bool   // tests only

	// Index is the alias searches use. The sink writes to concrete indexes
	// `<Index>-<timestamp>` behind it (see the package doc).
	Index string
	// Indexes maps a topic to its own alias (the index of one table).
	// IndexTemplate names the alias of the other topics: `{topic}` is the
	// topic, `{table}` its last dot-separated segment, the result is
	// lower-cased (`shop_{table}` → shop_orders). Topics in neither use
	// Index. Index is required unless IndexTemplate is set. Optional.
	Indexes       map[string]string
	IndexTemplate string
	// Topics are the sink's topics, as in the pipeline file; optional. Open
	// creates their aliases; aliases of other topics are created by the
	// first Write that meets them.
	Topics []string

	// Settings and Mappings are the JSON objects of the create-index body
	// used for every concrete index the sink creates; SettingsFile and
	// MappingsFile read them from files instead. Empty: Elasticsearch's
	// defaults (dynamic mapping).
	Settings, Mappings         json.RawMessage
	SettingsFile, MappingsFile string

	// Fields, when set, keeps only these columns of the after image in
	// _source (in image order). Rename renames columns (old → new), after
	// Fields selected them.
	Fields []string
	Rename map[string]string

	// Value is ValueEnvelope (default: the record is a change event; _source
	// is its after image) or ValueDocument: the record's value is the
	// document itself (a JSON object, e.g. an outbox event's payload),
	// indexed as it is (Fields and Rename still apply); a null value deletes
	// the document; _id is the key's values when the key is a JSON object,
	// else the key as text (an outbox event's aggregate id).
	Value string

	// KeepIndexes is how many old concrete indexes a finished rebuild keeps
	// (newest first); 0 deletes them all.
	KeepIndexes int

	// BulkMaxDocs and BulkMaxBytes bound one bulk request (operations and
	// body bytes); a batch larger than that is sent as several requests,
	// one after the other. Defaults 1000 and 5 MiB.
	BulkMaxDocs, BulkMaxBytes int

	// RetryTimeout bounds how long Write retries transient failures (no
	// connection, 429, 5xx) before returning ErrUnavailable. Default 30 s.
	RetryTimeout time.Duration

	// Transport replaces the HTTP transport (tests, proxies). Optional.
	Transport http.RoundTripper
}

// String renders c with the secrets redacted.
func (c Config) String() string {
	red := func(s string) string {
		if s == "" {
			return ""
		}
		return "<redacted>"
	}
	return fmt.Sprintf("elasticsearch.Config{Pipeline:%q Name:%q URLs:%q Username:%q Password:%q APIKey:%q Index:%q Indexes:%v KeepIndexes:%d BulkMaxDocs:%d BulkMaxBytes:%d}",
		c.Pipeline, c.Name, redactURLs(c.urls()), c.Username, red(c.Password), red(c.APIKey), c.Index, c.Indexes, c.KeepIndexes, c.BulkMaxDocs, c.BulkMaxBytes)
}

func redactURLs(us []string) []string {
	out := make([]string, len(us))
	for i, s := range us {
		if u, err := url.Parse(s); err == nil && u.User != nil {
			u.User = url.User(u.User.Username())
			s = u.String()
		}
		out[i] = s
	}
	return out
}

func (c *Config) urls() []string {
	us := append([]string(nil), c.URLs...)
	if c.URL != "" {
		us = append([]string{c.URL}, us...)
	}
	return us
}

// esIndexBad holds the characters Elasticsearch refuses in index names.
const esIndexBad = `\/*?"<>| ,#:`

func checkIndexName(field, ix string, bad func(field, format string, args ...any)) {
	switch {
	case ix == "":
		bad(field, "required")
	case ix != strings.ToLower(ix):
		bad(field, "%q must be lowercase", ix)
	case strings.ContainsAny(ix, esIndexBad):
		bad(field, "%q holds one of %s", ix, esIndexBad)
	case strings.IndexAny(ix[:1], "-_+.") == 0:
		bad(field, "%q must not start with -, _, + or .", ix)
	case len(ix) > 200:
		bad(field, "longer than 200 bytes")
	}
}

// render returns the alias IndexTemplate gives topic.
func (c *Config) render(topic string) string {
	table := topic
	if i := strings.LastIndexByte(topic, '.'); i >= 0 {
		table = topic[i+1:]
	}
	r := strings.NewReplacer("{topic}", topic, "{table}", table)
	return strings.ToLower(r.Replace(c.IndexTemplate))
}

// aliasName returns the alias of topic's documents.
func (c *Config) aliasName(topic string) string {
	if ix, ok := c.Indexes[topic]; ok {
		return ix
	}
	if c.IndexTemplate != "" {
		return c.render(topic)
	}
	return c.Index
}

// validate applies defaults to c and returns the create-index body; it
// reports every problem, each naming its field.
func (c *Config) validate() ([]byte, error) {
	var errs []error
	bad := func(field, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%w: %s: %s", ErrConfig, field, fmt.Sprintf(format, args...)))
	}
	if c.BulkMaxDocs == 0 {
		c.BulkMaxDocs = DefaultBulkMaxDocs
	}
	if c.Value == "" {
		c.Value = ValueEnvelope
	}
	if c.Value != ValueEnvelope && c.Value != ValueDocument {
		bad("value", "%q is not envelope or document", c.Value)
	}
	if c.BulkMaxBytes == 0 {
		c.BulkMaxBytes = DefaultBulkMaxBytes
	}
	if c.RetryTimeout == 0 {
		c.RetryTimeout = DefaultRetryTimeout
	}
	us := c.urls()
	if len(us) == 0 {
		bad("url", "required")
	}
	for _, s := range us {
		if u, err := url.Parse(s); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			bad("url", "%q: want http(s)://host:port", redactURLs([]string{s})[0])
		}
	}
	if c.Index != "" || c.IndexTemplate == "" {
		checkIndexName("index", c.Index, bad)
	}
	if c.IndexTemplate != "" {
		if !strings.Contains(c.IndexTemplate, "{topic}") && !strings.Contains(c.IndexTemplate, "{table}") {
			bad("index_template", "%q names neither {topic} nor {table}", c.IndexTemplate)
		} else {
			checkIndexName("index_template", c.render("x.y.z"), bad)
		}
	}
	for t, ix := range c.Indexes {
		checkIndexName("indexes."+t, ix, bad)
	}
	if c.APIKey != "" && c.Username != "" {
		bad("api_key", "set api_key or username/password, not both")
	}
	if c.BulkMaxDocs < 1 {
		bad("bulk_max_docs", "must be at least 1")
	}
	if c.BulkMaxBytes < 1024 {
		bad("bulk_max_bytes", "must be at least 1024")
	}
	if c.KeepIndexes < 0 {
		bad("keep_indexes", "must be 0 or more")
	}
	if c.RetryTimeout < 0 {
		bad("retry_timeout", "must be >= 0")
	}
	body := map[string]json.RawMessage{}
	for _, f := range []struct {
		name, file, fileField string
		raw                   json.RawMessage
	}{{"settings", c.SettingsFile, "settings_file", c.Settings}, {"mappings", c.MappingsFile, "mappings_file", c.Mappings}} {
		raw := f.raw
		if f.file != "" {
			if len(raw) > 0 {
				bad(f.fileField, "set %s or %s, not both", f.name, f.fileField)
				continue
			}
			b, err := os.ReadFile(f.file)
			if err != nil {
				bad(f.fileField, "%v", err)
				continue
			}
			raw = b
		}
		if len(raw) == 0 {
			continue
		}
		var obj map[string]json.RawMessage
		if err := json.Unmarshal(raw, &obj); err != nil {
			bad(f.name, "not a JSON object: %v", err)
			continue
		}
		body[f.name] = raw
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	b, err := json.Marshal(body)
	return b, err
}

// Option configures New.
type Option func(*options)

type options struct {
	log *slog.Logger
	reg prometheus.Registerer
	now func() time.Time
}

// WithLogger sets the logger (default: discard).
func WithLogger(l *slog.Logger) Option { return func(o *options) { o.log = l } }

// WithRegisterer registers the sink's metrics on r (default: none).
func WithRegisterer(r prometheus.Registerer) Option { return func(o *options) { o.reg = r } }
