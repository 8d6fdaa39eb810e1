package server

import (
	"encoding/base64"
	"strings"
	"testing"
)

// TestSCRAMRFC7677 checks the server side against the SCRAM-SHA-256
// example exchange of RFC 7677 section 3.
func TestSCRAMRFC7677(t *testing.T) {
	t.Parallel()
	m, _ := scramMechByName(MechScramSHA256)
	salt, _ := base64.StdEncoding.DecodeString("W22ZaJ0SNY7soEsUEjb6gQ==")
	salted, err := m.saltedPassword("pencil", salt, 4096)
	if err != nil {
		t.Fatal(err)
	}
	stored, server := m.keys(salted)
	cred := scramCredential{Salt: salt, Iterations: 4096, StoredKey: stored, ServerKey: server}
	if !m.verifyPassword(cred, "pencil") || m.verifyPassword(cred, "pencil2") {
		t.Fatal("verifyPassword")
	}
	x := &scramExchange{mech: m}
	user, _, err := x.start([]byte("n,,n=user,r=rOprNGfwEbeRWgbNEkqO"), func(u string) (scramCredential, bool) { return cred, u == "user" })
	if err != nil || user != "user" {
		t.Fatalf("start: %q %v", user, err)
	}
	// Replace our random server nonce with the RFC's.
	x.nonce = "rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0"
	x.serverFirst = "r=" + x.nonce + ",s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096"
	final := "c=biws,r=" + x.nonce + ",p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="
	reply, err := x.finish([]byte(final))
	if err != nil {
		t.Fatalf("finish: %v", err)
	}
	if string(reply) != "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=" {
		t.Fatalf("server-final %q", reply)
	}
	bad := strings.Replace(final, "p=dH", "p=dI", 1)
	if _, err := x.finish([]byte(bad)); err == nil {
		t.Fatal("bad proof accepted")
	}
}

func TestParseClientFirst(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in, user string
		ok       bool
	}{
		{"n,,n=alice,r=abc", "alice", true},
		{"y,,n=alice,r=abc", "alice", true},
		{"n,a=alice,n=alice,r=abc", "alice", true},
		{"n,,n=a=2Cb=3Dc,r=abc", "a,b=c", true},
		{"n,,n=alice,r=abc,tokenauth=true", "alice", true},
		{"n,a=bob,n=alice,r=abc", "", false},
		{"p=tls-unique,,n=alice,r=abc", "", false},
		{"n,,n=a=2Xb,r=abc", "", false},
		{"n,,n=,r=abc", "", false},
		{"n,,r=abc,n=alice", "", false},
		{"n,,n=alice,r=", "", false},
		{"n,,n=alice,r=abc,m=ext", "", false},
		{"n", "", false},
		{"", "", false},
	}
	for _, tt := range tests {
		cf, err := parseClientFirst(tt.in)
		if (err == nil) != tt.ok || (tt.ok && cf.user != tt.user) {
			t.Errorf("parseClientFirst(%q) = %q, %v; want %q ok=%v", tt.in, cf.user, err, tt.user, tt.ok)
		}
	}
}

func TestParsePlain(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in, user, pass string
		ok             bool
	}{
		{"\x00alice\x00pw", "alice", "pw", true},
		{"alice\x00alice\x00pw", "alice", "pw", true},
		{"bob\x00alice\x00pw", "", "", false},
		{"\x00alice\x00", "", "", false},
		{"\x00\x00pw", "", "", false},
		{"alice\x00pw", "", "", false},
		{"\x00a\x00b\x00c", "", "", false},
	}
	for _, tt := range tests {
		u, p, err := parsePlain([]byte(tt.in))
		if (err == nil) != tt.ok || u != tt.user || p != tt.pass {
			t.Errorf("parsePlain(%q) = %q %q %v", tt.in, u, p, err)
		}
	}
}

func FuzzParsePlain(f *testing.F) {
	f.Add([]byte("\x00alice\x00pw"))
	f.Add([]byte("a\x00a\x00p"))
	f.Fuzz(func(t *testing.T, b []byte) {
		u, p, err := parsePlain(b)
		if err == nil && (u == "" || p == "") {
			t.Fatal("accepted an empty user or password")
		}
	})
}

func FuzzSCRAMClientFirst(f *testing.F) {
	f.Add("n,,n=user,r=rOprNGfwEbeRWgbNEkqO")
	f.Add("n,a=u,n=u,r=x,ext=1")
	f.Add("y,,n=a=2C,r=x")
	m, _ := scramMechByName(MechScramSHA256)
	cred, err := newScramCredential(m, "pw", scramMinIterations)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, msg string) {
		x := &scramExchange{mech: m}
		_, reply, err := x.start([]byte(msg), func(string) (scramCredential, bool) { return cred, true })
		if err == nil && !strings.HasPrefix(string(reply), "r=") {
			t.Fatalf("server-first %q", reply)
		}
	})
}

func FuzzSCRAMClientFinal(f *testing.F) {
	f.Add("c=biws,r=abcdef,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=")
	f.Add("c=biws,r=x,p=")
	f.Add(",p=")
	m, _ := scramMechByName(MechScramSHA256)
	cred, err := newScramCredential(m, "pw", scramMinIterations)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, msg string) {
		x := &scramExchange{mech: m}
		if _, _, err := x.start([]byte("n,,n=u,r=abc"), func(string) (scramCredential, bool) { return cred, true }); err != nil {
			t.Fatal(err)
		}
		if _, err := x.finish([]byte(msg)); err == nil {
			t.Fatal("a client-final message without the password was accepted")
		}
	})
}
