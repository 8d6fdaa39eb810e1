package connectors

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

func TestRedactDSN(t *testing.T) {
	t.Parallel()
	tests := []struct{ in, want string }{
		{"", ""},
		{"postgres://u:s3cret@h:5432/db?sslmode=disable", "postgres://u:***@h:5432/db?sslmode=disable"},
		{"postgresql://u@h/db", "postgresql://u@h/db"},
		{"postgres://u:p%40ss@h/db", "postgres://u:***@h/db"},
		{"postgres://h/db?user=u&password=s3cret&x=1", "postgres://h/db?user=u&password=***&x=1"},
		{"host=h user=u password=s3cret dbname=d", "host=h user=u password=*** dbname=d"},
		{"host=h password = 's3 cret' dbname=d", "host=h password = *** dbname=d"},
		{"host=h PASSWORD=s3cret", "host=h PASSWORD=***"},
		{"u:s3cret@tcp(h:3306)/db", "u:***@tcp(h:3306)/db"},
		{"u:s3@cr:et@tcp(h:3306)/db?parseTime=true", "u:***@tcp(h:3306)/db?parseTime=true"},
		{"u@tcp(h:3306)/db", "u@tcp(h:3306)/db"},
		{"http://elastic:s3cret@h:9200", "http://elastic:***@h:9200"},
		{"http://h:9200", "http://h:9200"},
		{"http://u:s3cret@h:9200/%zz", "***"}, // unparseable URL: all hidden
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			t.Parallel()
			if got := RedactDSN(tc.in); got != tc.want {
				t.Errorf("RedactDSN(%q) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
}

// TestSecretNeverPrinted prints Secret and DSN every way Go code might.
func TestSecretNeverPrinted(t *testing.T) {
	t.Parallel()
	const pw = "hunter2-very-secret"
	s := NewSecret(pw)
	d := NewDSN("postgres://u:" + pw + "@h/db")
	type holder struct {
		S Secret
		D DSN
		P *Secret
	}
	h := holder{S: s, D: d, P: &s}
	var out bytes.Buffer
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%10v"} {
		fmt.Fprintf(&out, verb+"\n", s)
		fmt.Fprintf(&out, verb+"\n", d)
		fmt.Fprintf(&out, verb+"\n", h)
	}
	fmt.Fprintln(&out, s, d, h, s.String(), d.String(), s.GoString(), d.GoString())
	j, _ := json.Marshal(h)
	out.Write(j)
	y, _ := yaml.Marshal(h)
	out.Write(y)
	slog.New(slog.NewJSONHandler(&out, nil)).Info("x", "s", s, "d", d, "h", h)
	slog.New(slog.NewTextHandler(&out, nil)).Info("x", "s", s, "d", d, "h", h)
	if strings.Contains(out.String(), pw) || strings.Contains(out.String(), fmt.Sprintf("%x", pw)) {
		t.Errorf("secret printed:\n%s", out.String())
	}
	if s.Value() != pw || !strings.Contains(d.Value(), pw) {
		t.Errorf("Value lost the secret")
	}
	if !strings.Contains(out.String(), "postgres://u:***@h/db") {
		t.Errorf("DSN not shown redacted:\n%s", out.String())
	}
}

// TestRedaction loads files whose every secret is the same marker and
// checks no summary, String, log line or error text holds it.
func TestRedaction(t *testing.T) {
	t.Parallel()
	const pw = "Zq9-secret-marker"
	valid := `version: 1
broker:
  bootstrap: [k:9092]
  sasl: {mechanism: PLAIN, username: u, password: ` + pw + `}
pipelines:
  - name: a
    source:
      type: postgres
      dsn: "host=h user=u password=` + pw + ` dbname=d"
      tables: [public.t]
  - name: b
    source:
      type: mysql
      dsn: ${MYSQL_DSN}
      tables: [d.t]
    sinks:
      - {name: e, type: elasticsearch, url: "http://elastic:` + pw + `@h:9200", index: i, topics: [t], username: elastic, password: ` + pw + `}
      - {name: f, type: elasticsearch, url: "http://h:9200", index: i, topics: [t], api_key_file: /k}
      - {name: r, type: redis, addr: "h:1", topics: [t], password_file: /pw}
  - name: c
    source:
      type: postgres
      dsn_file: /dsn
      tables: [public.t]
`
	env := map[string]string{"MYSQL_DSN": "u:" + pw + "@tcp(h:3306)/d"}
	files := map[string]string{"/k": pw + "\n", "/pw": pw, "/dsn": "postgres://u:" + pw + "@h/d\n"}
	c, err := testLoader(env, files).Parse("p.yaml", []byte(valid))
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	out.WriteString(c.Summary())
	fmt.Fprintf(&out, "%v %+v %#v %s\n", c, *c, c.Pipelines, c.Broker)
	slog.New(slog.NewJSONHandler(&out, nil)).Info("loaded", "config", c, "source", *c.Pipelines[0].Source, "sink", c.Pipelines[1].Sinks[0], "sasl", c.Broker.SASL)
	j, _ := json.Marshal(c)
	out.Write(j)
	if strings.Contains(out.String(), pw) {
		t.Errorf("secret printed:\n%s", out.String())
	}
	if c.Pipelines[2].Source.DSN.Value() != "postgres://u:"+pw+"@h/d" || c.Pipelines[1].Sinks[1].Elasticsearch.APIKey.Value() != pw {
		t.Errorf("secret files not read (trailing newline dropped)")
	}
	for _, want := range []string{"password ***", "postgres://u:***@h/d", "u:***@tcp(h:3306)/d", "password=***", "http://elastic:***@h:9200"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}

	// Invalid files: the secret is around every problem, never in a message.
	invalid := strings.NewReplacer(
		"mechanism: PLAIN", "mechanism: "+pw,
		"type: mysql", "type: mysql\n      snapshot: "+pw+"x",
		"url: \"http://elastic:", "url: \"ftp://elastic:",
		"index: i, topics: [t], username", "index: i, topics: [], username",
		"dsn_file: /dsn", "dsn_file: /dsn\n      dsn: "+pw,
	).Replace(valid)
	_, err = testLoader(env, files).Parse("p.yaml", []byte(invalid))
	if err == nil {
		t.Fatal("invalid file loaded")
	}
	if n := len(FieldErrors(err)); n < 4 {
		t.Errorf("only %d problems:\n%v", n, err)
	}
	// The marker appears where the user typed it into a non-secret field
	// (mechanism, snapshot), quoted back to them; never from a secret field.
	for _, line := range strings.Split(err.Error(), "\n") {
		if strings.Contains(line, pw) && !strings.Contains(line, ".mechanism:") && !strings.Contains(line, ".snapshot:") {
			t.Errorf("secret in error line: %s", line)
		}
	}
}
