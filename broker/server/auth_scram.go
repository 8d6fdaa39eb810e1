package server

// SCRAM (RFC 5802, RFC 7677) server side and SASL/PLAIN (RFC 4616): the
// message parsers, the key derivations and the per-connection exchanges.
// Nothing here logs or returns a password, a salted password or a proof:
// errors name only the field that failed.

import (
	"bytes"
	"crypto/hmac"
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"hash"
	"strconv"
	"strings"
)

// SASL mechanism names, as on the wire.
const (
	MechPlain       = "PLAIN"
	MechScramSHA256 = "SCRAM-SHA-256"
	MechScramSHA512 = "SCRAM-SHA-512"
)

// Kafka's bounds on SCRAM iterations (ScramMechanism.minIterations and the
// AlterUserScramCredentials maximum).
const (
	scramMinIterations = 4096
	scramMaxIterations = 16384
)

// scramMech is one SCRAM hash.
type scramMech struct {
	name string
	code int8 // AlterUserScramCredentials mechanism: 1 SHA-256, 2 SHA-512
	hash func() hash.Hash
	size int
}

var scramMechs = []scramMech{
	{name: MechScramSHA256, code: 1, hash: sha256.New, size: sha256.Size},
	{name: MechScramSHA512, code: 2, hash: sha512.New, size: sha512.Size},
}

func scramMechByName(name string) (scramMech, bool) {
	for _, m := range scramMechs {
		if m.name == name {
			return m, true
		}
	}
	return scramMech{}, false
}

func scramMechByCode(code int8) (scramMech, bool) {
	for _, m := range scramMechs {
		if m.code == code {
			return m, true
		}
	}
	return scramMech{}, false
}

func (m scramMech) hmac(key []byte, msg string) []byte {
	h := hmac.New(m.hash, key)
	h.Write([]byte(msg))
	return h.Sum(nil)
}

func (m scramMech) h(b []byte) []byte {
	h := m.hash()
	h.Write(b)
	return h.Sum(nil)
}

// saltedPassword is Hi(Normalize(password), salt, i) of RFC 5802.
// (SASLprep is not applied, as in Kafka's implementation.)
func (m scramMech) saltedPassword(password string, salt []byte, iter int) ([]byte, error) {
	return pbkdf2.Key(m.hash, password, salt, iter, m.size)
}

// keys derives StoredKey and ServerKey from a salted password: all the
// server keeps.
func (m scramMech) keys(salted []byte) (stored, server []byte) {
	return m.h(m.hmac(salted, "Client Key")), m.hmac(salted, "Server Key")
}

// scramCredential is one user's stored SCRAM secret for one mechanism.
type scramCredential struct {
	Salt       []byte `json:"salt"`
	Iterations int    `json:"iterations"`
	StoredKey  []byte `json:"stored_key"`
	ServerKey  []byte `json:"server_key"`
}

// newScramCredential derives a credential from a password with a random salt.
func newScramCredential(m scramMech, password string, iter int) (scramCredential, error) {
	salt := make([]byte, 32)
	_, _ = rand.Read(salt)
	salted, err := m.saltedPassword(password, salt, iter)
	if err != nil {
		return scramCredential{}, fmt.Errorf("deriving %s credential: %w", m.name, err)
	}
	stored, server := m.keys(salted)
	return scramCredential{Salt: salt, Iterations: iter, StoredKey: stored, ServerKey: server}, nil
}

// verifyPassword reports whether password derives c's StoredKey
// (constant-time comparison).
func (m scramMech) verifyPassword(c scramCredential, password string) bool {
	salted, err := m.saltedPassword(password, c.Salt, c.Iterations)
	if err != nil {
		return false
	}
	stored, _ := m.keys(salted)
	return subtle.ConstantTimeCompare(stored, c.StoredKey) == 1
}

// errSASL is the single reason given to a client whose authentication
// failed: which step failed is logged at debug, never the secret.
var errSASL = errors.New("authentication failed")

// parsePlain splits a SASL/PLAIN message: [authzid] NUL authcid NUL passwd.
// An authzid must be empty or the authcid (Kafka's rule).
func parsePlain(msg []byte) (user, password string, err error) {
	parts := bytes.Split(msg, []byte{0})
	if len(parts) != 3 {
		return "", "", fmt.Errorf("%w: PLAIN message: want 3 NUL-separated fields, have %d", errSASL, len(parts))
	}
	authz, authc, pw := string(parts[0]), string(parts[1]), string(parts[2])
	if authc == "" || pw == "" {
		return "", "", fmt.Errorf("%w: PLAIN message: empty user or password", errSASL)
	}
	if authz != "" && authz != authc {
		return "", "", fmt.Errorf("%w: PLAIN message: authorization id differs from user", errSASL)
	}
	return authc, pw, nil
}

// clientFirst is a parsed SCRAM client-first-message.
type clientFirst struct {
	gs2Header string // "n,," or "y,," plus any a=authzid: echoed in c=
	user      string
	nonce     string
	bare      string // client-first-message-bare, part of AuthMessage
}

// parseClientFirst parses "gs2-header client-first-message-bare". Channel
// binding ("p=") is refused: Kafka offers none.
func parseClientFirst(msg string) (clientFirst, error) {
	var cf clientFirst
	// gs2-header = gs2-cbind-flag "," [ authzid ] ","
	i := strings.IndexByte(msg, ',')
	if i < 0 {
		return cf, fmt.Errorf("%w: SCRAM client-first: no gs2 header", errSASL)
	}
	switch msg[:i] {
	case "n", "y":
	default:
		return cf, fmt.Errorf("%w: SCRAM client-first: channel binding not supported", errSASL)
	}
	j := strings.IndexByte(msg[i+1:], ',')
	if j < 0 {
		return cf, fmt.Errorf("%w: SCRAM client-first: no gs2 header", errSASL)
	}
	authz := msg[i+1 : i+1+j]
	cf.gs2Header = msg[:i+1+j+1]
	cf.bare = msg[i+1+j+1:]
	if authz != "" {
		if !strings.HasPrefix(authz, "a=") {
			return cf, fmt.Errorf("%w: SCRAM client-first: bad authzid", errSASL)
		}
		var err error
		if authz, err = decodeSaslName(authz[2:]); err != nil {
			return cf, err
		}
	}
	fields := strings.Split(cf.bare, ",")
	if len(fields) < 2 || !strings.HasPrefix(fields[0], "n=") || !strings.HasPrefix(fields[1], "r=") {
		return cf, fmt.Errorf("%w: SCRAM client-first: want n=user,r=nonce", errSASL)
	}
	var err error
	if cf.user, err = decodeSaslName(fields[0][2:]); err != nil {
		return cf, err
	}
	cf.nonce = fields[1][2:]
	if cf.user == "" || !validNonce(cf.nonce) {
		return cf, fmt.Errorf("%w: SCRAM client-first: empty user or bad nonce", errSASL)
	}
	for _, ext := range fields[2:] {
		if k, _, ok := strings.Cut(ext, "="); !ok || k == "" || k == "m" {
			return cf, fmt.Errorf("%w: SCRAM client-first: bad extension", errSASL)
		}
	}
	if authz != "" && authz != cf.user {
		return cf, fmt.Errorf("%w: SCRAM client-first: authorization id differs from user", errSASL)
	}
	return cf, nil
}

// decodeSaslName undoes RFC 5802's saslname escaping (=2C is ',', =3D '=').
func decodeSaslName(s string) (string, error) {
	if !strings.Contains(s, "=") {
		return s, nil
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '=' {
			b.WriteByte(s[i])
			continue
		}
		switch {
		case strings.HasPrefix(s[i:], "=2C"):
			b.WriteByte(',')
		case strings.HasPrefix(s[i:], "=3D"):
			b.WriteByte('=')
		default:
			return "", fmt.Errorf("%w: SCRAM: bad saslname escape", errSASL)
		}
		i += 2
	}
	return b.String(), nil
}

// validNonce: printable ASCII except ','.
func validNonce(n string) bool {
	if n == "" {
		return false
	}
	for i := 0; i < len(n); i++ {
		if n[i] < 0x21 || n[i] > 0x7e || n[i] == ',' {
			return false
		}
	}
	return true
}

// clientFinal is a parsed SCRAM client-final-message.
type clientFinal struct {
	channel      string // c= value, base64
	nonce        string
	proof        []byte
	withoutProof string // client-final-message-without-proof, part of AuthMessage
}

func parseClientFinal(msg string) (clientFinal, error) {
	var cf clientFinal
	i := strings.LastIndex(msg, ",p=")
	if i < 0 {
		return cf, fmt.Errorf("%w: SCRAM client-final: no proof", errSASL)
	}
	cf.withoutProof = msg[:i]
	proof, err := base64.StdEncoding.DecodeString(msg[i+3:])
	if err != nil {
		return cf, fmt.Errorf("%w: SCRAM client-final: proof is not base64", errSASL)
	}
	cf.proof = proof
	fields := strings.Split(cf.withoutProof, ",")
	if len(fields) < 2 || !strings.HasPrefix(fields[0], "c=") || !strings.HasPrefix(fields[1], "r=") {
		return cf, fmt.Errorf("%w: SCRAM client-final: want c=, r= and p= attributes", errSASL)
	}
	cf.channel, cf.nonce = fields[0][2:], fields[1][2:]
	return cf, nil
}

// scramExchange is the server side of one SCRAM authentication: start
// with the client-first message, finish with the client-final one.
type scramExchange struct {
	mech        scramMech
	cred        scramCredential
	first       clientFirst
	serverFirst string
	nonce       string // client nonce + server nonce
}

// start answers a client-first message with the server-first message.
// lookup returns the user's credential for the mechanism.
func (x *scramExchange) start(msg []byte, lookup func(user string) (scramCredential, bool)) (user string, reply []byte, err error) {
	cf, err := parseClientFirst(string(msg))
	if err != nil {
		return "", nil, err
	}
	cred, ok := lookup(cf.user)
	if !ok {
		return cf.user, nil, fmt.Errorf("%w: unknown user or mechanism", errSASL)
	}
	var sn [24]byte
	_, _ = rand.Read(sn[:])
	x.first, x.cred = cf, cred
	x.nonce = cf.nonce + base64.RawStdEncoding.EncodeToString(sn[:])
	x.serverFirst = "r=" + x.nonce + ",s=" + base64.StdEncoding.EncodeToString(cred.Salt) + ",i=" + strconv.Itoa(cred.Iterations)
	return cf.user, []byte(x.serverFirst), nil
}

// finish checks the client-final message's proof and returns the
// server-final message (the server signature).
func (x *scramExchange) finish(msg []byte) ([]byte, error) {
	cf, err := parseClientFinal(string(msg))
	if err != nil {
		return nil, err
	}
	if cf.channel != base64.StdEncoding.EncodeToString([]byte(x.first.gs2Header)) {
		return nil, fmt.Errorf("%w: SCRAM client-final: channel binding mismatch", errSASL)
	}
	// RFC 5802 wants the nonce echoed exactly; some librdkafka versions
	// send client nonce + the whole nonce. Kafka accepts any nonce ending
	// with the server-first one, and so do we: the proof covers the
	// client-final message as sent, so nothing is weakened.
	if len(cf.nonce) < len(x.nonce) ||
		subtle.ConstantTimeCompare([]byte(cf.nonce[len(cf.nonce)-len(x.nonce):]), []byte(x.nonce)) != 1 {
		return nil, fmt.Errorf("%w: SCRAM client-final: nonce mismatch", errSASL)
	}
	if len(cf.proof) != x.mech.size {
		return nil, fmt.Errorf("%w: SCRAM client-final: bad proof length", errSASL)
	}
	authMsg := x.first.bare + "," + x.serverFirst + "," + cf.withoutProof
	sig := x.mech.hmac(x.cred.StoredKey, authMsg)
	clientKey := make([]byte, len(sig))
	subtle.XORBytes(clientKey, cf.proof, sig)
	if subtle.ConstantTimeCompare(x.mech.h(clientKey), x.cred.StoredKey) != 1 {
		return nil, fmt.Errorf("%w: SCRAM: invalid credentials", errSASL)
	}
	return []byte("v=" + base64.StdEncoding.EncodeToString(x.mech.hmac(x.cred.ServerKey, authMsg))), nil
}
