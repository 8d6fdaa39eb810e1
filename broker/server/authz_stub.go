package server

// Until ACLs exist: everything is authorized.

type aclOperation int8

const (
	opDescribe aclOperation = 8
	opAlter    aclOperation = 7
)

func (s *Server) authorizeCluster(*reqContext, aclOperation) bool { return true }
