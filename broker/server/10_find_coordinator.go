// FindCoordinator (key 10), versions 0-6.
//
// This node coordinates every group (key type 0). v0-v3 ask for one key;
// v4+ for a batch (CoordinatorKeys), answered one entry per key. Key type 1
// (transactions) is answered COORDINATOR_NOT_AVAILABLE: transactions are not
// supported yet.

package server

import (
	"github.com/sluicehq/sluice/broker/kafkaproto"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func (s *Server) handleFindCoordinator(req *kmsg.FindCoordinatorRequest) kmsg.Response {
	host, port := s.advertised()
	var code int16
	if req.CoordinatorType != 0 {
		code = kerr.CoordinatorNotAvailable.Code
	}
	return kafkaproto.FindCoordinatorResponse(req, code, s.cfg.NodeID, host, port)
}
