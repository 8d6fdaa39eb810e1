package server

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/sasl"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"
)

const (
	testPassword  = "s3cret-Pa55word"
	wrongPassword = "wrong-Pa55word"
)

// syncBuffer collects log output from concurrent goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// saslBroker starts a broker requiring SASL with users alice (SHA-256) and
// admin (SHA-512), both with testPassword; its debug log goes to logs.
func saslBroker(t *testing.T, logs io.Writer, opts ...brokerOpt) *testBroker {
	t.Helper()
	dir := t.TempDir()
	if err := SetUserPassword(dir, "alice", MechScramSHA256, testPassword, 0); err != nil {
		t.Fatal(err)
	}
	if err := SetUserPassword(dir, "admin", MechScramSHA512, testPassword, 8192); err != nil {
		t.Fatal(err)
	}
	opts = append([]brokerOpt{func(c *Config) {
		c.SASLMechanisms = []string{MechPlain, MechScramSHA256, MechScramSHA512}
		if logs != nil {
			c.Logger = slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
		}
	}}, opts...)
	return startBrokerOn(t, newMemStore(), dir, opts...)
}

func saslOpt(mech, user, pass string) kgo.Opt {
	var m sasl.Mechanism
	switch mech {
	case MechPlain:
		m = plain.Auth{User: user, Pass: pass}.AsMechanism()
	case MechScramSHA256:
		m = scram.Auth{User: user, Pass: pass}.AsSha256Mechanism()
	default:
		m = scram.Auth{User: user, Pass: pass}.AsSha512Mechanism()
	}
	return kgo.SASL(m)
}

func TestSASLAuthenticate(t *testing.T) {
	t.Parallel()
	pki := newTestPKI(t)
	logs := &syncBuffer{}
	b := saslBroker(t, logs, withTLS(t, pki, false))
	tests := []struct {
		mech, user, pass string
		ok               bool
	}{
		{MechScramSHA256, "alice", testPassword, true},
		{MechScramSHA512, "admin", testPassword, true},
		{MechPlain, "alice", testPassword, true},
		{MechPlain, "admin", testPassword, true},
		{MechScramSHA256, "alice", wrongPassword, false},
		{MechScramSHA512, "alice", testPassword, false}, // alice has no SHA-512 credential
		{MechScramSHA256, "nobody", testPassword, false},
		{MechPlain, "alice", wrongPassword, false},
		{MechPlain, "nobody", testPassword, false},
	}
	for _, tt := range tests {
		t.Run(tt.mech+"/"+tt.user+"/"+map[bool]string{true: "ok", false: "refused"}[tt.ok], func(t *testing.T) {
			t.Parallel()
			cl := newClient(t, b.addr, kgo.DialTLSConfig(pki.clientTLS(t, false)), saslOpt(tt.mech, tt.user, tt.pass),
				kgo.RequestRetries(0), kgo.RetryTimeout(time.Second))
			err := cl.Ping(testCtx(t))
			if tt.ok && err != nil {
				t.Fatalf("Ping: %v", err)
			}
			if !tt.ok && !errors.Is(err, kerr.SaslAuthenticationFailed) {
				t.Fatalf("Ping: %v, want SASL_AUTHENTICATION_FAILED", err)
			}
		})
	}
	t.Cleanup(func() {
		for _, pw := range []string{testPassword, wrongPassword} {
			if strings.Contains(logs.String(), pw) {
				t.Errorf("broker log contains a password")
			}
		}
	})
}

func TestSASLRefusesRequestsBeforeAuth(t *testing.T) {
	t.Parallel()
	b := saslBroker(t, nil)
	c := dialRaw(t, b.addr)
	// ApiVersions is answered.
	av := c.roundTrip(kmsg.NewPtrApiVersionsRequest(), 3).(*kmsg.ApiVersionsResponse)
	if av.ErrorCode != 0 {
		t.Fatalf("ApiVersions: %d", av.ErrorCode)
	}
	// A frame over 512 KiB before authentication closes the connection
	// without being read.
	big := dialRaw(t, b.addr)
	big.writeRaw([]byte{0, 0x10, 0, 0}) // 1 MiB
	big.expectClosed()

	// Metadata before authentication closes the connection.
	c.send(kmsg.NewPtrMetadataRequest(), 12, 2)
	c.expectClosed()

	// A mechanism not enabled is refused.
	c = dialRaw(t, b.addr)
	hs := kmsg.NewPtrSASLHandshakeRequest()
	hs.Mechanism = "GSSAPI"
	resp := c.roundTrip(hs, 1).(*kmsg.SASLHandshakeResponse)
	if resp.ErrorCode != kerr.UnsupportedSaslMechanism.Code || len(resp.SupportedMechanisms) != 3 {
		t.Fatalf("handshake: %+v", resp)
	}

	// SaslAuthenticate before a handshake: ILLEGAL_SASL_STATE.
	c = dialRaw(t, b.addr)
	ar := c.roundTrip(kmsg.NewPtrSASLAuthenticateRequest(), 1).(*kmsg.SASLAuthenticateResponse)
	if ar.ErrorCode != kerr.IllegalSaslState.Code {
		t.Fatalf("authenticate: %d", ar.ErrorCode)
	}
}

// TestSASLHandshakeV0 drives the v0 flow (raw tokens after the handshake).
func TestSASLHandshakeV0(t *testing.T) {
	t.Parallel()
	b := saslBroker(t, nil)
	for _, tt := range []struct {
		pass string
		ok   bool
	}{{testPassword, true}, {wrongPassword, false}} {
		c := dialRaw(t, b.addr)
		hs := kmsg.NewPtrSASLHandshakeRequest()
		hs.Mechanism = MechPlain
		if r := c.roundTrip(hs, 0).(*kmsg.SASLHandshakeResponse); r.ErrorCode != 0 {
			t.Fatalf("handshake: %d", r.ErrorCode)
		}
		tok := []byte("\x00alice\x00" + tt.pass)
		c.writeRaw(binary.BigEndian.AppendUint32(nil, uint32(len(tok))))
		c.writeRaw(tok)
		if !tt.ok {
			c.expectClosed()
			continue
		}
		var n [4]byte
		_ = c.nc.SetReadDeadline(time.Now().Add(10 * time.Second))
		if _, err := io.ReadFull(c.nc, n[:]); err != nil || binary.BigEndian.Uint32(n[:]) != 0 {
			t.Fatalf("raw reply: %v %x", err, n)
		}
		md := c.roundTrip(kmsg.NewPtrMetadataRequest(), 12).(*kmsg.MetadataResponse)
		if len(md.Brokers) != 1 {
			t.Fatalf("metadata after v0 auth: %+v", md)
		}
	}
}

func TestSCRAMCredentialAPIs(t *testing.T) {
	t.Parallel()
	b := saslBroker(t, nil)
	adminCl := newClient(t, b.addr, saslOpt(MechScramSHA512, "admin", testPassword))
	admin := kadm.NewClient(adminCl)
	ctx := testCtx(t)
	res, err := admin.AlterUserSCRAMs(ctx, nil, []kadm.UpsertSCRAM{
		{User: "bob", Mechanism: kadm.ScramSha256, Iterations: 4096, Password: "bob-pw"},
	})
	if err != nil {
		t.Fatal(err)
	}
	if res["bob"].Err != nil {
		t.Fatalf("alter: bob %v", res["bob"].Err)
	}
	// kadm checks iterations client-side; the broker checks too.
	req := kmsg.NewPtrAlterUserSCRAMCredentialsRequest()
	up := kmsg.NewAlterUserSCRAMCredentialsRequestUpsertion()
	up.Name, up.Mechanism, up.Iterations, up.Salt, up.SaltedPassword = "carol", 2, 100, []byte("salt"), make([]byte, 64)
	bad := up
	bad.Name, bad.Mechanism, bad.Iterations = "dave", 9, 4096
	req.Upsertions = append(req.Upsertions, up, bad)
	raw, err := req.RequestWith(ctx, adminCl)
	if err != nil || len(raw.Results) != 2 || raw.Results[0].ErrorCode != kerr.UnacceptableCredential.Code ||
		raw.Results[1].ErrorCode != kerr.UnsupportedSaslMechanism.Code {
		t.Fatalf("bad upserts: %v %+v", err, raw)
	}
	bob := newClient(t, b.addr, saslOpt(MechScramSHA256, "bob", "bob-pw"))
	if err := bob.Ping(ctx); err != nil {
		t.Fatalf("bob: %v", err)
	}
	desc, err := admin.DescribeUserSCRAMs(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(desc) != 3 || desc["bob"].CredInfos[0].Iterations != 4096 || desc["admin"].CredInfos[0].Mechanism != kadm.ScramSha512 {
		t.Fatalf("describe: %+v", desc)
	}
	one, err := admin.DescribeUserSCRAMs(ctx, "nobody")
	if err != nil || !errors.Is(one["nobody"].Err, kerr.ResourceNotFound) {
		t.Fatalf("describe nobody: %v %+v", err, one)
	}
	del, err := admin.AlterUserSCRAMs(ctx, []kadm.DeleteSCRAM{{User: "bob", Mechanism: kadm.ScramSha256}, {User: "nobody", Mechanism: kadm.ScramSha256}}, nil)
	if err != nil || del["bob"].Err != nil || !errors.Is(del["nobody"].Err, kerr.ResourceNotFound) {
		t.Fatalf("delete: %v %+v", err, del)
	}
	gone := newClient(t, b.addr, saslOpt(MechScramSHA256, "bob", "bob-pw"), kgo.RequestRetries(0))
	if err := gone.Ping(ctx); !errors.Is(err, kerr.SaslAuthenticationFailed) {
		t.Fatalf("deleted bob: %v", err)
	}
}
