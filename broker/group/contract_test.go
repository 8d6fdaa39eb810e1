package group_test

import (
	"github.com/sluicehq/sluice/broker/group"
	"github.com/sluicehq/sluice/broker/server"
)

// The wiring contract with broker/server: the server takes the coordinator,
// and gives it its topic table and the __consumer_offsets partition.
var (
	_ server.GroupCoordinator = (*group.Coordinator)(nil)
	_ group.Topics            = (*server.Server)(nil)
	_ group.TopicLog          = (*server.Server)(nil)
)
