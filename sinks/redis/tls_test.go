package redis

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"
)

// writeCerts writes a CA and a server certificate for 127.0.0.1 to dir and
// returns the CA, cert and key file names.
func writeCerts(t *testing.T, dir string) (ca, cert, key string) {
	t.Helper()
	write := func(name, typ string, der []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "sluice test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	srvKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	srvTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "127.0.0.1"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		KeyUsage:    x509.KeyUsageDigitalSignature,
	}
	srvDER, err := x509.CreateCertificate(rand.Reader, srvTmpl, caTmpl, &srvKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(srvKey)
	if err != nil {
		t.Fatal(err)
	}
	return write("ca.pem", "CERTIFICATE", caDER), write("server.pem", "CERTIFICATE", srvDER), write("server.key", "EC PRIVATE KEY", keyDER)
}

// TestTLSAndPassword runs the sink against its own redis-server that only
// speaks TLS and requires a password.
func TestTLSAndPassword(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	ca, cert, key := writeCerts(t, dir)
	pool := x509.NewCertPool()
	pem, _ := os.ReadFile(ca)
	pool.AppendCertsFromPEM(pem)
	const pw = "s3cret"
	srv := startServerOpts(t,
		&goredis.Options{Password: pw, DisableIdentity: true, TLSConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}},
		"--port", "0", "--tls-port", "{port}", "--tls-cert-file", cert, "--tls-key-file", key,
		"--tls-ca-cert-file", ca, "--tls-auth-clients", "no", "--requirepass", pw)
	ctx := context.Background()
	cfg := Config{Pipeline: "shop", Name: "tls", Addr: srv.addr(), Password: pw, TLS: TLSConfig{Enabled: true, CAFile: ca}}
	s := openSink(t, cfg)
	write(t, s, rec("shop.public.t", `{"id":1}`, env("c", "t", "", `{"id":1}`)))
	rc := goredis.NewClient(&goredis.Options{Addr: srv.addr(), Password: pw, DisableIdentity: true,
		TLSConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}})
	defer rc.Close()
	if got := rc.Get(ctx, "shop:t:1").Val(); got != `{"id":1}` {
		t.Errorf("GET over TLS = %q", got)
	}

	// Wrong password, no TLS, an unknown CA: Open fails.
	for name, bad := range map[string]Config{
		"password": {Pipeline: "shop", Addr: srv.addr(), Password: "nope", TLS: TLSConfig{Enabled: true, CAFile: ca}},
		"plain":    {Pipeline: "shop", Addr: srv.addr(), Password: pw},
		"ca":       {Pipeline: "shop", Addr: srv.addr(), Password: pw, TLS: TLSConfig{Enabled: true}},
	} {
		s, err := New(bad)
		if err != nil {
			t.Fatal(err)
		}
		octx, cancel := context.WithTimeout(ctx, 5*time.Second)
		if err := s.Open(octx); err == nil {
			t.Errorf("%s: Open succeeded", name)
			_ = s.Close(ctx)
		}
		cancel()
	}
	if _, err := New(Config{Pipeline: "shop", Addr: "x:1", TLS: TLSConfig{Enabled: true, CAFile: filepath.Join(dir, "missing.pem")}}); !errors.Is(err, ErrConfig) {
		t.Errorf("New with a missing CA file = %v, want ErrConfig", err)
	}
}
