package server

// Authentication on the connection: the gate that keeps unauthenticated
// clients to ApiVersions and the SASL APIs, and the SASL exchanges.

import (
	"fmt"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// preAuthMaxBytes caps request frames before SASL authentication, as
// Kafka's sasl.server.max.receive.size (512 KiB).
const preAuthMaxBytes = 512 << 10

// saslRequired reports whether connections must authenticate with SASL.
func (s *Server) saslRequired() bool { return len(s.cfg.SASLMechanisms) > 0 }

func validateSASLMechanisms(mechs []string) error {
	for _, m := range mechs {
		if m != MechPlain && m != MechScramSHA256 && m != MechScramSHA512 {
			return fmt.Errorf("%w: sasl_mechanisms: %q: want %s, %s or %s", ErrBadConfig, m, MechPlain, MechScramSHA256, MechScramSHA512)
		}
	}
	return nil
}

// authGate runs before dispatch, in the reader. It handles the SASL
// requests inline (their state belongs to the connection), refuses any
// other request but ApiVersions before authentication, and returns
// handled=true when req needs no dispatch, and a close reason when the
// connection must close after the requests already read are answered.
func (c *conn) authGate(corr int32, req kmsg.Request) (handled bool, closeReason string) {
	var resp kmsg.Response
	var closeAfter bool
	switch r := req.(type) {
	case *kmsg.SASLHandshakeRequest:
		resp, closeAfter = c.handleSASLHandshake(r)
	case *kmsg.SASLAuthenticateRequest:
		resp, closeAfter = c.handleSASLAuthenticate(r)
	case *kmsg.ApiVersionsRequest:
		return false, ""
	default:
		if !c.s.saslRequired() || c.authed {
			return false, ""
		}
		c.log.Info("closing connection: request before SASL authentication", "api", apiName(req.Key()))
		return true, closeAuth
	}
	c.s.metrics.requests.WithLabelValues(apiName(req.Key())).Inc()
	// Kafka closes only during authentication; afterwards, or on a listener
	// without SASL, the SASL APIs just answer ILLEGAL_SASL_STATE.
	closeAfter = closeAfter && c.s.saslRequired() && !c.authed
	sl := &slot{corr: corr, done: make(chan struct{}), resp: resp}
	close(sl.done)
	c.slots <- sl
	if closeAfter {
		return true, closeAuth
	}
	return true, ""
}

// rawSASL handles one raw token after SaslHandshake v0: the reply goes
// back length-prefixed without a Kafka header; a failure closes the
// connection without a reply, as Kafka does.
func (c *conn) rawSASL(token []byte) (closeReason string) {
	reply, err := c.saslStep(token)
	if err != nil {
		return closeAuth
	}
	sl := &slot{done: make(chan struct{}), raw: reply}
	if reply == nil {
		sl.raw = []byte{}
	}
	close(sl.done)
	c.slots <- sl
	if c.authed {
		c.saslRaw = false // back to Kafka requests
	}
	return ""
}

// saslStep consumes one client token of the chosen mechanism and returns
// the server's token. Errors wrapping errSASL are authentication
// failures; they are logged here by user and step, never with secrets.
func (c *conn) saslStep(token []byte) ([]byte, error) {
	reply, user, err := c.saslStepInner(token)
	if err != nil {
		c.log.Info("authentication failed", "mechanism", c.saslMech, "user", user, "err", err)
		c.s.metrics.authFailures.Inc()
		return nil, err
	}
	return reply, nil
}

func (c *conn) saslStepInner(token []byte) (reply []byte, user string, err error) {
	switch c.saslMech {
	case MechPlain:
		user, password, err := parsePlain(token)
		if err != nil {
			return nil, user, err
		}
		ok, err := c.s.verifyPlain(user, password)
		if err != nil {
			return nil, user, err
		}
		if !ok {
			return nil, user, fmt.Errorf("%w: PLAIN: invalid credentials", errSASL)
		}
		c.authenticated(user)
		return nil, user, nil
	case MechScramSHA256, MechScramSHA512:
		if c.scram == nil {
			m, _ := scramMechByName(c.saslMech)
			c.scram = &scramExchange{mech: m}
			var lookupErr error
			user, reply, err := c.scram.start(token, func(u string) (scramCredential, bool) {
				cred, ok, err := c.s.creds.lookup(u, m.name)
				lookupErr = err
				return cred, ok
			})
			if lookupErr != nil {
				return nil, user, lookupErr
			}
			c.scramUser = user
			return reply, user, err
		}
		reply, err := c.scram.finish(token)
		if err != nil {
			return nil, c.scramUser, err
		}
		c.authenticated(c.scramUser)
		c.scram = nil
		return reply, c.scramUser, nil
	}
	return nil, "", fmt.Errorf("%w: no mechanism chosen", errSASL)
}

func (c *conn) authenticated(user string) {
	c.authed = true
	c.principal = "User:" + user
	c.log.Debug("authenticated", "mechanism", c.saslMech, "user", user)
}

// verifyPlain checks a PLAIN password against the user's SCRAM credential
// (SHA-512 preferred): it re-derives StoredKey from the password with the
// stored salt and iterations. An unknown user costs the same derivation,
// so timing does not reveal which users exist.
func (s *Server) verifyPlain(user, password string) (bool, error) {
	for _, name := range []string{MechScramSHA512, MechScramSHA256} {
		cred, ok, err := s.creds.lookup(user, name)
		if err != nil {
			return false, err
		}
		if ok {
			m, _ := scramMechByName(name)
			return m.verifyPassword(cred, password), nil
		}
	}
	m := scramMechs[0]
	m.verifyPassword(scramCredential{Salt: make([]byte, 32), Iterations: scramMinIterations, StoredKey: make([]byte, m.size)}, password)
	return false, nil
}

// saslOutOfBand answers a SASL request outside a connection's
// authentication: ILLEGAL_SASL_STATE.
func saslOutOfBand(req kmsg.Request) kmsg.Response {
	switch r := req.(type) {
	case *kmsg.SASLHandshakeRequest:
		resp := r.ResponseKind().(*kmsg.SASLHandshakeResponse)
		resp.ErrorCode = kerr.IllegalSaslState.Code
		return resp
	case *kmsg.SASLAuthenticateRequest:
		resp := r.ResponseKind().(*kmsg.SASLAuthenticateResponse)
		resp.ErrorCode = kerr.IllegalSaslState.Code
		return resp
	}
	return req.ResponseKind()
}
