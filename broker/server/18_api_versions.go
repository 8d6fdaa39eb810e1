// ApiVersions (key 18), versions 0-4.
//
// Answers with the kafkaproto table. A request of an unknown (newer) version
// is answered by the connection itself with a v0 UNSUPPORTED_VERSION
// response carrying the table (see apiVersionsUnsupported), as Kafka does.
// The response header is always v0 (kafkaproto.AppendResponse).
// v3+ carries client software name/version, which we ignore.

package server

import (
	"github.com/sluicehq/sluice/broker/kafkaproto"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func (s *Server) handleAPIVersions(req *kmsg.ApiVersionsRequest) kmsg.Response {
	resp := req.ResponseKind().(*kmsg.ApiVersionsResponse)
	resp.ApiKeys = kafkaproto.APIVersionsKeys()
	return resp
}
