package server

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// testPKI is a throwaway CA with a server certificate for 127.0.0.1 and
// localhost, and a client certificate, written as PEM files under dir.
type testPKI struct {
	caFile, certFile, keyFile, clientCert, clientKey string
	pool                                             *x509.CertPool
}

func newTestPKI(t *testing.T) testPKI {
	t.Helper()
	dir := t.TempDir()
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test-ca"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	issue := func(serial int64, cn string, usage x509.ExtKeyUsage) ([]byte, []byte) {
		key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		tmpl := &x509.Certificate{
			SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: cn},
			NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
			ExtKeyUsage: []x509.ExtKeyUsage{usage}, KeyUsage: x509.KeyUsageDigitalSignature,
			DNSNames: []string{"localhost"}, IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
		if err != nil {
			t.Fatal(err)
		}
		kd, _ := x509.MarshalECPrivateKey(key)
		return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
			pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kd})
	}
	p := testPKI{
		caFile: filepath.Join(dir, "ca.pem"), certFile: filepath.Join(dir, "server.pem"), keyFile: filepath.Join(dir, "server.key"),
		clientCert: filepath.Join(dir, "client.pem"), clientKey: filepath.Join(dir, "client.key"),
		pool: x509.NewCertPool(),
	}
	p.pool.AddCert(ca)
	sc, sk := issue(2, "localhost", x509.ExtKeyUsageServerAuth)
	cc, ck := issue(3, "alice", x509.ExtKeyUsageClientAuth)
	for f, b := range map[string][]byte{
		p.caFile:   pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}),
		p.certFile: sc, p.keyFile: sk, p.clientCert: cc, p.clientKey: ck,
	} {
		if err := os.WriteFile(f, b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return p
}

func (p testPKI) clientTLS(t *testing.T, withCert bool) *tls.Config {
	c := &tls.Config{RootCAs: p.pool, ServerName: "127.0.0.1"}
	if withCert {
		cert, err := tls.LoadX509KeyPair(p.clientCert, p.clientKey)
		if err != nil {
			t.Fatal(err)
		}
		c.Certificates = []tls.Certificate{cert}
	}
	return c
}

func withTLS(t *testing.T, p testPKI, clientCA bool) brokerOpt {
	ca := ""
	if clientCA {
		ca = p.caFile
	}
	tc, err := LoadTLSConfig(p.certFile, p.keyFile, ca)
	if err != nil {
		t.Fatal(err)
	}
	return func(c *Config) { c.TLS = tc }
}

func TestTLSListener(t *testing.T) {
	t.Parallel()
	pki := newTestPKI(t)
	tests := []struct {
		name     string
		clientCA bool
		tls      bool
		cert     bool
		wantOK   bool
	}{
		{"tls", false, true, false, true},
		{"plaintext client on TLS port", false, false, false, false},
		{"client cert required and given", true, true, true, true},
		{"client cert required, missing", true, true, false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := startBroker(t, withTLS(t, pki, tt.clientCA))
			opts := []kgo.Opt{kgo.RequestRetries(0), kgo.RetryTimeout(time.Second)}
			if tt.tls {
				opts = append(opts, kgo.DialTLSConfig(pki.clientTLS(t, tt.cert)))
			}
			cl := newClient(t, b.addr, opts...)
			err := cl.Ping(testCtx(t))
			if (err == nil) != tt.wantOK {
				t.Fatalf("Ping: %v, want ok=%v", err, tt.wantOK)
			}
		})
	}
}

func TestLoadTLSConfigErrors(t *testing.T) {
	t.Parallel()
	pki := newTestPKI(t)
	for _, tc := range [][3]string{
		{"", pki.keyFile, ""},
		{pki.certFile, "/nonexistent", ""},
		{pki.certFile, pki.keyFile, "/nonexistent"},
		{pki.certFile, pki.keyFile, pki.keyFile},
	} {
		if _, err := LoadTLSConfig(tc[0], tc[1], tc[2]); err == nil {
			t.Errorf("LoadTLSConfig%q: no error", tc)
		}
	}
}
