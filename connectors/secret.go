package connectors

import (
	"fmt"
	"log/slog"
	"net/url"
	"regexp"
	"strings"
)

// redacted replaces a secret wherever a config is printed.
const redacted = "***"

// Secret is a password or key from the pipeline file (written inline, from
// the environment, or read from a `*_file`). Every way of printing it —
// fmt verbs, String, slog, JSON, YAML, text marshalling — shows `***`
// (or nothing when empty); only Value returns the secret itself.
type Secret struct {
	value string
	file  string
}

// NewSecret wraps v.
func NewSecret(v string) Secret { return Secret{value: v} }

// Value returns the secret. Never log or print it.
func (s Secret) Value() string { return s.value }

// IsSet reports whether the secret is non-empty.
func (s Secret) IsSet() bool { return s.value != "" }

// File is the file the secret was read from, if any (not itself secret).
func (s Secret) File() string { return s.file }

// String returns `***` for a set secret, "" otherwise.
func (s Secret) String() string {
	if s.value == "" {
		return ""
	}
	return redacted
}

// GoString redacts as String does, for %#v.
func (s Secret) GoString() string { return fmt.Sprintf("connectors.Secret(%q)", s.String()) }

// Format redacts for every fmt verb.
func (s Secret) Format(f fmt.State, verb rune) { formatRedacted(f, verb, s.String(), s.GoString()) }

// LogValue redacts for slog.
func (s Secret) LogValue() slog.Value { return slog.StringValue(s.String()) }

// MarshalText redacts for encoding/json, YAML and other text encoders.
func (s Secret) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// DSN is a connection string — a Postgres URL or keyword/value string, a
// MySQL `user:pass@tcp(host:port)/db`, an Elasticsearch URL — that may hold
// a password. Printing it in any way shows the DSN with its password part
// replaced by `***`; a DSN it cannot take apart prints as `***` whole.
type DSN struct {
	value string
	file  string
}

// NewDSN wraps v.
func NewDSN(v string) DSN { return DSN{value: v} }

// Value returns the connection string, password included. Never log it.
func (d DSN) Value() string { return d.value }

// IsSet reports whether the DSN is non-empty.
func (d DSN) IsSet() bool { return d.value != "" }

// File is the file the DSN was read from, if any.
func (d DSN) File() string { return d.file }

// String returns the DSN with its password redacted.
func (d DSN) String() string { return RedactDSN(d.value) }

// GoString redacts as String does, for %#v.
func (d DSN) GoString() string { return fmt.Sprintf("connectors.DSN(%q)", d.String()) }

// Format redacts for every fmt verb.
func (d DSN) Format(f fmt.State, verb rune) { formatRedacted(f, verb, d.String(), d.GoString()) }

// LogValue redacts for slog.
func (d DSN) LogValue() slog.Value { return slog.StringValue(d.String()) }

// MarshalText redacts for encoding/json, YAML and other text encoders.
func (d DSN) MarshalText() ([]byte, error) { return []byte(d.String()), nil }

func formatRedacted(f fmt.State, verb rune, s, gos string) {
	switch {
	case verb == 'v' && f.Flag('#'):
		fmt.Fprint(f, gos)
	case verb == 'q':
		fmt.Fprintf(f, "%q", s)
	default:
		fmt.Fprint(f, s)
	}
}

// kvPassword matches a password in a keyword/value DSN or a URL query:
// password=secret, password = 'a b', &password=x.
var kvPassword = regexp.MustCompile(`(?i)(\bpassword\s*=\s*)('(?:[^'\\]|\\.)*'?|[^\s&]*)`)

// RedactDSN returns dsn with its password replaced by `***`: the password of
// a URL's user info (postgres://u:***@h/db), of a MySQL DSN
// (u:***@tcp(h:3306)/db), and any password=... keyword or query parameter.
// What it cannot take apart safely comes back as `***`.
func RedactDSN(dsn string) string {
	if dsn == "" {
		return ""
	}
	out := dsn
	if i := strings.Index(dsn, "://"); i > 0 && !strings.ContainsAny(dsn[:i], "@/ =") {
		u, err := url.Parse(dsn)
		if err != nil {
			return redacted
		}
		if _, has := u.User.Password(); has {
			u.User = url.UserPassword(u.User.Username(), "xxxredactedxxx")
			out = strings.Replace(u.String(), "xxxredactedxxx", redacted, 1)
		}
	} else if slash := strings.LastIndexByte(dsn, '/'); slash >= 0 && strings.Contains(dsn[:slash], "@") {
		// MySQL: [user[:password]@][net[(addr)]]/dbname[?params]; the
		// password runs from the first ':' to the last '@' before the
		// last '/' (as go-sql-driver/mysql splits it).
		at := strings.LastIndexByte(dsn[:slash], '@')
		if c := strings.IndexByte(dsn[:at], ':'); c >= 0 {
			out = dsn[:c+1] + redacted + dsn[at:]
		}
	}
	return kvPassword.ReplaceAllString(out, "${1}"+redacted)
}
