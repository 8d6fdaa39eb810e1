// FindCoordinator (key 10), versions 0-6.
//
// This node coordinates every group (key type 0). v0-v3 ask for one key;
// v4+ for a batch (CoordinatorKeys), answered one entry per key. Key type 1
// (transactions) is answered COORDINATOR_NOT_AVAILABLE: transactions are not
// supported yet.

package server

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func (s *Server) handleFindCoordinator(req *kmsg.FindCoordinatorRequest) kmsg.Response {
	resp := req.ResponseKind().(*kmsg.FindCoordinatorResponse)
	host, port := s.advertised()
	var code int16
	if req.CoordinatorType != 0 {
		code = kerr.CoordinatorNotAvailable.Code
	}
	if req.Version < 4 {
		resp.ErrorCode = code
		if code == 0 {
			resp.NodeID, resp.Host, resp.Port = s.cfg.NodeID, host, port
		} else {
			resp.NodeID, resp.Port = -1, -1
		}
		return resp
	}
	for _, key := range req.CoordinatorKeys {
		c := kmsg.NewFindCoordinatorResponseCoordinator()
		c.Key, c.ErrorCode = key, code
		if code == 0 {
			c.NodeID, c.Host, c.Port = s.cfg.NodeID, host, port
		} else {
			c.NodeID, c.Port = -1, -1
		}
		resp.Coordinators = append(resp.Coordinators, c)
	}
	return resp
}
