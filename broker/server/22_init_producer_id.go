// InitProducerId (key 22), versions 0-5.
//
// Idempotent producers (null transactional id) get a fresh producer id with
// epoch 0 every time, as Kafka does for non-transactional producers (the
// v3+ producer id/epoch of a KIP-360 bump is therefore ignored). Ids come
// from blocks recorded in meta.json before use, so they are never reused
// across restarts. A transactional id is TRANSACTIONAL_ID_AUTHORIZATION_FAILED
// (non-retriable): transactions are not supported yet.

package server

import (
	"github.com/sluicehq/sluice/broker/kafkaproto"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func (s *Server) handleInitProducerID(req *kmsg.InitProducerIDRequest) kmsg.Response {
	resp := req.ResponseKind().(*kmsg.InitProducerIDResponse)
	resp.ProducerID, resp.ProducerEpoch = -1, -1
	if req.TransactionalID != nil {
		resp.ErrorCode = kerr.TransactionalIDAuthorizationFailed.Code
		return resp
	}
	id, err := s.allocateProducerID()
	if err != nil {
		s.log.Error("allocating a producer id", "err", err)
		resp.ErrorCode = kafkaproto.ErrorCode(err)
		return resp
	}
	resp.ProducerID, resp.ProducerEpoch = id, 0
	return resp
}
