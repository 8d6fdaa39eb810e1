// DescribeCluster (key 60), versions 0-2.
//
// The cluster id (stable per data dir), this node as controller and only
// broker (never fenced; v2 include_fenced_brokers changes nothing).
// v1 endpoint_type 1 (brokers) is served; 2 (controllers) is
// UNSUPPORTED_ENDPOINT_TYPE until cluster mode exists. Authorized
// operations are not computed.

package server

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func (s *Server) handleDescribeCluster(req *kmsg.DescribeClusterRequest) kmsg.Response {
	resp := req.ResponseKind().(*kmsg.DescribeClusterResponse)
	resp.EndpointType = req.EndpointType
	if req.Version >= 1 && req.EndpointType != 1 {
		resp.ErrorCode = kerr.UnsupportedEndpointType.Code
		resp.ErrorMessage = kmsg.StringPtr("only broker endpoints are served")
		return resp
	}
	if s.clustered() {
		im := s.image()
		resp.ClusterID, resp.ControllerID = s.ClusterID(), im.Controller
		for _, id := range im.SortedBrokerIDs(req.IncludeFencedBrokers) {
			ib := im.Brokers[id]
			b := kmsg.NewDescribeClusterResponseBroker()
			b.NodeID, b.Host, b.Port, b.IsFenced = id, ib.Host, ib.Port, ib.Fenced
			resp.Brokers = append(resp.Brokers, b)
		}
		return resp
	}
	host, port := s.advertised()
	resp.ClusterID = s.meta.ClusterID
	resp.ControllerID = s.cfg.NodeID
	b := kmsg.NewDescribeClusterResponseBroker()
	b.NodeID, b.Host, b.Port = s.cfg.NodeID, host, port
	resp.Brokers = []kmsg.DescribeClusterResponseBroker{b}
	return resp
}
