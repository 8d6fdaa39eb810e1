// SaslAuthenticate (36) v0-2.
//
// Carries the SASL tokens of the mechanism chosen by SaslHandshake v1:
// PLAIN in one round, SCRAM-SHA-256/512 in two (client-first →
// server-first, client-final → server-final). Success makes the
// connection's principal User:<name>; SessionLifetimeMillis is 0 (no
// re-authentication). Failure answers SASL_AUTHENTICATION_FAILED with a
// message naming only the mechanism, then closes the connection, as
// Kafka does. Before a handshake: ILLEGAL_SASL_STATE and close. Handled
// inline by the reader (conn.authGate).

package server

import (
	"errors"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// handleSASLAuthenticate returns the response and whether the connection
// must close after it.
func (c *conn) handleSASLAuthenticate(r *kmsg.SASLAuthenticateRequest) (kmsg.Response, bool) {
	resp := r.ResponseKind().(*kmsg.SASLAuthenticateResponse)
	if c.saslMech == "" || c.saslRaw || c.authed {
		resp.ErrorCode = kerr.IllegalSaslState.Code
		return resp, true
	}
	reply, err := c.saslStep(r.SASLAuthBytes)
	if err != nil {
		resp.ErrorCode = kerr.SaslAuthenticationFailed.Code
		msg := "Authentication failed during authentication due to invalid credentials with SASL mechanism " + c.saslMech
		if !errors.Is(err, errSASL) {
			resp.ErrorCode = kerr.UnknownServerError.Code
			msg = "authentication failed: credential store unavailable"
		}
		resp.ErrorMessage = &msg
		return resp, true
	}
	resp.SASLAuthBytes = reply
	if reply == nil {
		resp.SASLAuthBytes = []byte{}
	}
	return resp, false
}
