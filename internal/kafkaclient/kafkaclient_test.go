package kafkaclient

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestOpts(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	bogusCA := filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(bogusCA, []byte("not pem"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		cfg     Config
		wantErr string
	}{
		{"plaintext", Config{Brokers: []string{"a:9092"}}, ""},
		{"no brokers", Config{}, "no bootstrap brokers"},
		{"scram", Config{Brokers: []string{"a:1"}, SASL: SASL{Mechanism: "scram-sha-512", Username: "u", Password: "p"}}, ""},
		{"bad mechanism", Config{Brokers: []string{"a:1"}, SASL: SASL{Mechanism: "GSSAPI"}}, `sasl mechanism "GSSAPI"`},
		{"tls system roots", Config{Brokers: []string{"a:1"}, TLS: TLS{Enable: true}}, ""},
		{"missing ca", Config{Brokers: []string{"a:1"}, TLS: TLS{CAFile: filepath.Join(dir, "nope")}}, "reading tls ca file"},
		{"bogus ca", Config{Brokers: []string{"a:1"}, TLS: TLS{CAFile: bogusCA}}, "holds no PEM certificate"},
		{"cert without key", Config{Brokers: []string{"a:1"}, TLS: TLS{CertFile: "c"}}, "go together"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := tc.cfg.Opts()
			if tc.wantErr == "" && err != nil {
				t.Fatalf("Opts: %v", err)
			}
			if tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)) {
				t.Fatalf("Opts error %v, want it to contain %q", err, tc.wantErr)
			}
		})
	}
}

func TestStringRedactsPassword(t *testing.T) {
	t.Parallel()
	c := Config{Brokers: []string{"a:1"}, SASL: SASL{Mechanism: "PLAIN", Username: "u", Password: "hunter2"}}
	if s := c.String(); strings.Contains(s, "hunter2") || !strings.Contains(s, "user=u") {
		t.Fatalf("String() = %q: must name the user and hide the password", s)
	}
}
