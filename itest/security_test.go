package itest

// Security end to end: a `sluice broker` process with a TLS listener,
// SASL (PLAIN, SCRAM-SHA-256/512) and ACLs, driven by franz-go, kcat
// (librdkafka) and the Apache Kafka 4.3.1 tools, with users and ACLs
// managed through `sluice user` and `sluice acl`.

import (
	"bytes"
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
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl"
	"github.com/twmb/franz-go/pkg/sasl/scram"
)

const (
	secAdminPassword = "Adm1n-pa55-itest"
	secAlicePassword = "Al1ce-pa55-itest"
	secWrongPassword = "Wr0ng-pa55-itest"
)

// secPKI is a throwaway CA and a server certificate for 127.0.0.1.
type secPKI struct {
	dir, ca, cert, key string
	pool               *x509.CertPool
}

func newSecPKI(t *testing.T) secPKI {
	t.Helper()
	dir := t.TempDir()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "sluice-itest-ca"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "localhost"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, KeyUsage: x509.KeyUsageDigitalSignature,
		DNSNames: []string{"localhost"}, IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	kd, _ := x509.MarshalPKCS8PrivateKey(key)
	p := secPKI{dir: dir, ca: filepath.Join(dir, "ca.pem"), cert: filepath.Join(dir, "server.pem"), key: filepath.Join(dir, "server.key"), pool: x509.NewCertPool()}
	p.pool.AddCert(ca)
	for f, b := range map[string][]byte{
		p.ca:   pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}),
		p.cert: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		p.key:  pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kd}),
	} {
		if err := os.WriteFile(f, b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return p
}

// secBroker is a broker process requiring TLS and SASL with ACLs on, and
// User:admin (SCRAM-SHA-512) as super user.
type secBroker struct {
	*BrokerProc
	pki       secPKI
	adminFile string // holds secAdminPassword
}

func startSecureBroker(t *testing.T) *secBroker {
	t.Helper()
	pki := newSecPKI(t)
	dir := t.TempDir()
	// The first user is written offline: nobody can authenticate yet.
	cmd := exec.Command(Binary(t), "user", "create", "admin", "--mechanism", "SCRAM-SHA-512", "--data-dir", dir)
	cmd.Env = append(os.Environ(), "SLUICE_USER_PASSWORD="+secAdminPassword)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("sluice user create --data-dir: %v\n%s", err, out)
	}
	sb := &secBroker{pki: pki, adminFile: filepath.Join(pki.dir, "admin.pw")}
	if err := os.WriteFile(sb.adminFile, []byte(secAdminPassword+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	b := StartBroker(t, dir, "--tls-cert", pki.cert, "--tls-key", pki.key,
		"--sasl-mechanisms", "PLAIN,SCRAM-SHA-256,SCRAM-SHA-512",
		"--config", "authorizer.enable=true", "--config", "super.users=User:admin", "--log-level", "debug")
	sb.BrokerProc = b
	t.Cleanup(func() {
		// Runs before StartBroker's cleanup kills the process: stop it
		// first, so its output is complete.
		b.Stop(syscall.SIGTERM)
		// Secrets never reach the broker's output, whatever the test did.
		for _, pw := range []string{secAdminPassword, secAlicePassword, secWrongPassword} {
			if strings.Contains(b.Output(), pw) {
				t.Errorf("broker output contains a password")
			}
		}
	})
	deadline := time.Now().Add(30 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		_, err := kadm.NewClient(sb.client(t, "SCRAM-SHA-512", "admin", secAdminPassword)).ListBrokers(ctx)
		cancel()
		if err == nil {
			return sb
		}
		if time.Now().After(deadline) {
			t.Fatalf("secure broker not ready after 30s: %v\n%s", err, b.out.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// client is a franz-go client over TLS authenticating with mech.
func (sb *secBroker) client(t *testing.T, mech, user, pass string, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	var m sasl.Mechanism
	switch mech {
	case "SCRAM-SHA-256":
		m = scram.Auth{User: user, Pass: pass}.AsSha256Mechanism()
	default:
		m = scram.Auth{User: user, Pass: pass}.AsSha512Mechanism()
	}
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(sb.Addr), kgo.SASL(m),
		kgo.DialTLSConfig(&tls.Config{RootCAs: sb.pki.pool, ServerName: "127.0.0.1"})}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return cl
}

// admin runs a sluice admin command as User:admin over TLS.
func (sb *secBroker) admin(t *testing.T, env []string, args ...string) string {
	t.Helper()
	args = append(args, "--bootstrap", sb.Addr, "--tls-ca", sb.pki.ca, "--sasl-mechanism", "SCRAM-SHA-512",
		"--sasl-username", "admin", "--sasl-password-file", sb.adminFile)
	cmd := exec.Command(Binary(t), args...)
	cmd.Env = append(os.Environ(), env...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		t.Fatalf("sluice %s: %v\n%s", strings.Join(args, " "), err, out.String())
	}
	return out.String()
}

// addAlice creates user alice with mech and lets her write and read topic
// and read group.
func (sb *secBroker) addAlice(t *testing.T, mech, topic, group string) {
	t.Helper()
	sb.admin(t, []string{"SLUICE_USER_PASSWORD=" + secAlicePassword}, "user", "create", "alice", "--mechanism", mech)
	sb.admin(t, nil, "acl", "add", "--principal", "User:alice", "--operation", "write", "--operation", "read", "--topic", topic)
	sb.admin(t, nil, "acl", "add", "--principal", "User:alice", "--operation", "read", "--group", group)
}

func (sb *secBroker) createTopic(t *testing.T, topic string) {
	t.Helper()
	sb.admin(t, nil, "topic", "create", topic, "--partitions", "1")
}

// endOffset is the topic's partition 0 end offset, read as admin.
func (sb *secBroker) endOffset(t *testing.T, topic string) int64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	ends, err := kadm.NewClient(sb.client(t, "SCRAM-SHA-512", "admin", secAdminPassword)).ListEndOffsets(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	o, ok := ends.Lookup(topic, 0)
	if !ok || o.Err != nil {
		t.Fatalf("end offset of %s: %v", topic, o.Err)
	}
	return o.Offset
}

func TestSecurityFranzGoSCRAMOverTLS(t *testing.T) {
	t.Parallel()
	for _, mech := range []string{"SCRAM-SHA-256", "SCRAM-SHA-512"} {
		t.Run(mech, func(t *testing.T) {
			t.Parallel()
			sb := startSecureBroker(t)
			sb.createTopic(t, "orders")
			sb.addAlice(t, mech, "orders", "billing")
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			cl := sb.client(t, mech, "alice", secAlicePassword, kgo.ConsumerGroup("billing"), kgo.ConsumeTopics("orders"),
				kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
			for i := range 10 {
				if err := cl.ProduceSync(ctx, &kgo.Record{Topic: "orders", Value: []byte{byte('0' + i)}}).FirstErr(); err != nil {
					t.Fatalf("produce: %v", err)
				}
			}
			n := 0
			for n < 10 {
				fs := cl.PollFetches(ctx)
				if err := fs.Err(); err != nil {
					t.Fatalf("consume: %v", err)
				}
				n += fs.NumRecords()
			}
			if err := cl.CommitUncommittedOffsets(ctx); err != nil {
				t.Fatalf("commit: %v", err)
			}
			out := sb.admin(t, nil, "user", "list")
			if !strings.Contains(out, "alice") || !strings.Contains(out, mech) {
				t.Fatalf("user list:\n%s", out)
			}
		})
	}
}

func TestSecurityRefusals(t *testing.T) {
	t.Parallel()
	sb := startSecureBroker(t)
	for _, topic := range []string{"orders", "secret"} {
		sb.createTopic(t, topic)
	}
	sb.addAlice(t, "SCRAM-SHA-256", "orders", "billing")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	t.Run("wrong password", func(t *testing.T) {
		cl := sb.client(t, "SCRAM-SHA-256", "alice", secWrongPassword, kgo.RequestRetries(0), kgo.RecordDeliveryTimeout(3*time.Second))
		if err := cl.Ping(ctx); !errors.Is(err, kerr.SaslAuthenticationFailed) {
			t.Fatalf("ping with a wrong password: %v, want SASL_AUTHENTICATION_FAILED", err)
		}
		// kgo retries connections until the delivery timeout.
		if err := cl.ProduceSync(ctx, &kgo.Record{Topic: "orders", Value: []byte("x")}).FirstErr(); err == nil {
			t.Fatal("produce with a wrong password succeeded")
		}
		if o := sb.endOffset(t, "orders"); o != 0 {
			t.Fatalf("orders end offset %d, want 0", o)
		}
	})
	t.Run("missing ACL", func(t *testing.T) {
		cl := sb.client(t, "SCRAM-SHA-256", "alice", secAlicePassword, kgo.RequestRetries(0))
		err := cl.ProduceSync(ctx, &kgo.Record{Topic: "secret", Value: []byte("x")}).FirstErr()
		if !errors.Is(err, kerr.TopicAuthorizationFailed) {
			t.Fatalf("produce without an ACL: %v, want TOPIC_AUTHORIZATION_FAILED", err)
		}
		if o := sb.endOffset(t, "secret"); o != 0 {
			t.Fatalf("secret end offset %d, want 0", o)
		}
	})
	t.Run("plaintext client on TLS port", func(t *testing.T) {
		cl, err := kgo.NewClient(kgo.SeedBrokers(sb.Addr), kgo.RequestRetries(0),
			kgo.SASL(scram.Auth{User: "admin", Pass: secAdminPassword}.AsSha512Mechanism()))
		if err != nil {
			t.Fatal(err)
		}
		defer cl.Close()
		pctx, pcancel := context.WithTimeout(ctx, 10*time.Second)
		defer pcancel()
		if err := cl.ProduceSync(pctx, &kgo.Record{Topic: "orders", Value: []byte("x")}).FirstErr(); err == nil {
			t.Fatal("a plaintext client produced to the TLS listener")
		}
		if o := sb.endOffset(t, "orders"); o != 0 {
			t.Fatalf("orders end offset %d, want 0", o)
		}
	})
	t.Run("kcat wrong password", func(t *testing.T) {
		cmd := exec.CommandContext(ctx, "kcat", append(sb.kcatArgs("alice", secWrongPassword, "SCRAM-SHA-256"), "-P", "-t", "orders")...)
		cmd.Stdin = strings.NewReader("x\n")
		out, err := cmd.CombinedOutput()
		if err == nil && !strings.Contains(string(out), "Authentication failed") {
			t.Fatalf("kcat with a wrong password succeeded:\n%s", out)
		}
		if o := sb.endOffset(t, "orders"); o != 0 {
			t.Fatalf("orders end offset %d, want 0", o)
		}
	})
}

func (sb *secBroker) kcatArgs(user, pass, mech string) []string {
	return []string{"-b", sb.Addr, "-X", "security.protocol=SASL_SSL", "-X", "sasl.mechanisms=" + mech,
		"-X", "sasl.username=" + user, "-X", "sasl.password=" + pass, "-X", "ssl.ca.location=" + sb.pki.ca}
}

func TestSecurityKcatSCRAMOverTLS(t *testing.T) {
	t.Parallel()
	if _, err := exec.LookPath("kcat"); err != nil {
		t.Fatalf("kcat is not installed (scripts/services up installs it): %v", err)
	}
	sb := startSecureBroker(t)
	sb.createTopic(t, "orders")
	sb.addAlice(t, "SCRAM-SHA-256", "orders", "kcat-g")
	kcat(t, "a\nb\nc\n", append(sb.kcatArgs("alice", secAlicePassword, "SCRAM-SHA-256"), "-P", "-t", "orders")...)
	out := kcat(t, "", append(sb.kcatArgs("alice", secAlicePassword, "SCRAM-SHA-256"), "-C", "-G", "kcat-g",
		"-X", "auto.offset.reset=earliest", "-e", "-q", "orders")...)
	if got := strings.Fields(out); strings.Join(got, ",") != "a,b,c" {
		t.Fatalf("kcat consumed %q", out)
	}
}

func TestSecurityKafkaToolsSCRAM(t *testing.T) {
	t.Parallel()
	sb := startSecureBroker(t)
	sb.createTopic(t, "orders")
	sb.createTopic(t, "hidden")
	sb.addAlice(t, "SCRAM-SHA-512", "orders", "java-g")
	props := filepath.Join(sb.pki.dir, "client.properties")
	conf := "security.protocol=SASL_SSL\nsasl.mechanism=SCRAM-SHA-512\n" +
		"sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username=\"alice\" password=\"" + secAlicePassword + "\";\n" +
		"ssl.truststore.type=PEM\nssl.truststore.location=" + sb.pki.ca + "\n"
	if err := os.WriteFile(props, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	out := kafkaTool(t, "", "topics", "--bootstrap-server", sb.Addr, "--command-config", props, "--list")
	// alice may describe orders only: hidden is filtered out.
	if got := strings.Fields(out); len(got) != 1 || got[0] != "orders" {
		t.Fatalf("kafka-topics --list as alice:\n%s", out)
	}
}

// TestSecurityKafkaToolsManageUsersAndACLs: kafka-configs creates a SCRAM
// user and kafka-acls grants it, through our SCRAM and ACL APIs.
func TestSecurityKafkaToolsManageUsersAndACLs(t *testing.T) {
	t.Parallel()
	sb := startSecureBroker(t)
	sb.createTopic(t, "orders")
	props := filepath.Join(sb.pki.dir, "admin.properties")
	conf := "security.protocol=SASL_SSL\nsasl.mechanism=SCRAM-SHA-512\n" +
		"sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username=\"admin\" password=\"" + secAdminPassword + "\";\n" +
		"ssl.truststore.type=PEM\nssl.truststore.location=" + sb.pki.ca + "\n"
	if err := os.WriteFile(props, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	kafkaTool(t, "", "kafka.admin.ConfigCommand", "--bootstrap-server", sb.Addr, "--command-config", props, "--alter",
		"--add-config", "SCRAM-SHA-256=[iterations=4096,password="+secAlicePassword+"]", "--entity-type", "users", "--entity-name", "bob")
	kafkaTool(t, "", "org.apache.kafka.tools.AclCommand", "--bootstrap-server", sb.Addr, "--command-config", props, "--add",
		"--allow-principal", "User:bob", "--operation", "Read", "--topic", "orders")
	out := kafkaTool(t, "", "org.apache.kafka.tools.AclCommand", "--bootstrap-server", sb.Addr, "--command-config", props, "--list", "--topic", "orders")
	if !strings.Contains(out, "User:bob") || !strings.Contains(out, "READ") {
		t.Fatalf("kafka-acls --list:\n%s", out)
	}
	if got := sb.admin(t, nil, "acl", "list", "--principal", "User:bob"); !strings.Contains(got, "orders") {
		t.Fatalf("sluice acl list:\n%s", got)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	topics, err := kadm.NewClient(sb.client(t, "SCRAM-SHA-256", "bob", secAlicePassword)).ListTopics(ctx)
	if err != nil || !topics.Has("orders") {
		t.Fatalf("bob lists %v: %v", topics.Names(), err)
	}
}
