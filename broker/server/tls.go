package server

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"
	"time"
)

// tlsHandshakeTimeout bounds a new connection's TLS handshake, so a peer
// that connects and sends nothing (or plaintext Kafka that never completes
// a handshake) does not hold a goroutine.
const tlsHandshakeTimeout = 10 * time.Second

// LoadTLSConfig builds the listener TLS config from PEM files: the server
// certificate chain and key, and optionally a CA bundle. With clientCAFile
// set, every client must present a certificate signed by one of those CAs
// (Kafka's ssl.client.auth=required); its subject becomes the connection's
// principal (User:CN=...,O=...) unless SASL authenticates another.
// Errors name the file, never key material.
func LoadTLSConfig(certFile, keyFile, clientCAFile string) (*tls.Config, error) {
	if certFile == "" || keyFile == "" {
		return nil, fmt.Errorf("%w: tls: certificate and key files are both required", ErrBadConfig)
	}
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, fmt.Errorf("%w: tls: loading certificate %s and key %s: %w", ErrBadConfig, certFile, keyFile, err)
	}
	cfg := &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	if clientCAFile != "" {
		pem, err := os.ReadFile(clientCAFile)
		if err != nil {
			return nil, fmt.Errorf("%w: tls: reading client CA file: %w", ErrBadConfig, err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("%w: tls: client CA file %s holds no PEM certificate", ErrBadConfig, clientCAFile)
		}
		cfg.ClientCAs = pool
		cfg.ClientAuth = tls.RequireAndVerifyClientCert
	}
	return cfg, nil
}

// tlsHandshake completes the handshake of a new TLS connection within
// tlsHandshakeTimeout and records the client certificate's principal.
func (c *conn) tlsHandshake(ctx context.Context, tc *tls.Conn) bool {
	hctx, cancel := context.WithTimeout(ctx, tlsHandshakeTimeout)
	defer cancel()
	if err := tc.HandshakeContext(hctx); err != nil {
		c.log.Debug("closing connection: TLS handshake failed", "err", err)
		return false
	}
	if st := tc.ConnectionState(); len(st.PeerCertificates) > 0 {
		c.principal = "User:" + st.PeerCertificates[0].Subject.String()
	}
	return true
}

// anonymousPrincipal is the principal of a connection with neither a
// client certificate nor SASL, as in Kafka.
const anonymousPrincipal = "User:ANONYMOUS"
