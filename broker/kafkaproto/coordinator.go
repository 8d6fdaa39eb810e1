package kafkaproto

import "github.com/twmb/franz-go/pkg/kmsg"

// FindCoordinatorResponse answers every key of a FindCoordinator request
// (one key before v4, CoordinatorKeys from v4) with the same node, or with
// code when it is not 0 (then node id and port are -1).
func FindCoordinatorResponse(req *kmsg.FindCoordinatorRequest, code int16, nodeID int32, host string, port int32) *kmsg.FindCoordinatorResponse {
	resp := req.ResponseKind().(*kmsg.FindCoordinatorResponse)
	if code != 0 {
		nodeID, host, port = -1, "", -1
	}
	if req.Version < 4 {
		resp.ErrorCode, resp.NodeID, resp.Host, resp.Port = code, nodeID, host, port
		return resp
	}
	for _, k := range req.CoordinatorKeys {
		rc := kmsg.NewFindCoordinatorResponseCoordinator()
		rc.Key, rc.ErrorCode, rc.NodeID, rc.Host, rc.Port = k, code, nodeID, host, port
		resp.Coordinators = append(resp.Coordinators, rc)
	}
	return resp
}
