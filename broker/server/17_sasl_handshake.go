// SaslHandshake (17) v0-1.
//
// Chooses the connection's mechanism among Config.SASLMechanisms;
// otherwise UNSUPPORTED_SASL_MECHANISM with the enabled list, and the
// connection closes (as in Kafka). v0 is followed by raw SASL tokens
// (length-prefixed, no Kafka header), v1 by SaslAuthenticate requests. A
// second handshake, or one on a listener without SASL, gets
// ILLEGAL_SASL_STATE. Handled inline by the connection's reader
// (conn.authGate), never concurrently with other requests of the
// connection.

package server

import (
	"slices"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// handleSASLHandshake returns the response and whether the connection
// must close after it.
func (c *conn) handleSASLHandshake(r *kmsg.SASLHandshakeRequest) (kmsg.Response, bool) {
	resp := r.ResponseKind().(*kmsg.SASLHandshakeResponse)
	resp.SupportedMechanisms = slices.Clone(c.s.cfg.SASLMechanisms)
	if len(c.s.cfg.SASLMechanisms) == 0 || c.authed || c.saslMech != "" {
		resp.ErrorCode = kerr.IllegalSaslState.Code
		return resp, true
	}
	if !slices.Contains(c.s.cfg.SASLMechanisms, r.Mechanism) {
		resp.ErrorCode = kerr.UnsupportedSaslMechanism.Code
		return resp, true
	}
	c.saslMech = r.Mechanism
	c.saslRaw = r.Version == 0
	return resp, false
}
