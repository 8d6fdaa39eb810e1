package admin

import (
	"errors"
	"fmt"
)

// ErrUnknownTopic is returned for a topic the cluster does not have.
var ErrUnknownTopic = errors.New("admin: unknown topic")

// GroupActiveError refuses an offset reset while the group has members.
type GroupActiveError struct {
	Group, State string
}

func (e *GroupActiveError) Error() string {
	return fmt.Sprintf("admin: group %q is %s: offsets can only be reset while it has no members (state Empty or Dead); stop its consumers first", e.Group, e.State)
}
