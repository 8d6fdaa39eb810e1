package group

import (
	"context"
	"time"
)

// timeoutsLocked fires g's due deadlines and returns its next one (zero: none).
func (c *Coordinator) timeoutsLocked(ctx context.Context, g *group, now time.Time) time.Time {
	if g.state == StateDead {
		return time.Time{}
	}
	for id, exp := range g.pendingMembers {
		if !now.Before(exp) {
			delete(g.pendingMembers, id)
			c.tryCompleteJoinLocked(g, now)
		}
	}
	for _, id := range sortedKeys(g.members) {
		m := g.members[id]
		if m == nil || m.keptAlive() || now.Before(m.heartbeatDeadline) {
			continue
		}
		c.metrics.expired.WithLabelValues("session_timeout").Inc()
		c.log.Info("member session expired", "group", g.id, "member_id", id)
		c.removeMemberAndUpdateLocked(g, m, now, "session timeout")
	}
	if g.state == StatePreparingRebalance && !g.rebalanceDeadline.IsZero() && !now.Before(g.rebalanceDeadline) {
		if g.initialDelay && g.newMemberAdded && g.delayRemaining > 0 {
			d := min(c.cfg.InitialRebalanceDelay, g.delayRemaining)
			g.delayRemaining -= d
			g.newMemberAdded = false
			g.rebalanceDeadline = now.Add(d)
		} else {
			c.completeJoinLocked(ctx, g, now)
		}
	}
	if len(g.pendingSync) > 0 && !g.syncDeadline.IsZero() && !now.Before(g.syncDeadline) &&
		(g.state == StateCompletingRebalance || g.state == StateStable) {
		for _, id := range sortedKeys(g.pendingSync) {
			if m := g.members[id]; m != nil {
				c.metrics.expired.WithLabelValues("sync_timeout").Inc()
				c.log.Info("member removed: no SyncGroup in time", "group", g.id, "member_id", id)
				c.removeMemberLocked(g, m)
			}
		}
		c.prepareRebalanceLocked(g, now, "members did not sync in time")
		c.tryCompleteJoinLocked(g, now)
	}
	return g.nextDeadlineLocked()
}

func (g *group) nextDeadlineLocked() time.Time {
	var next time.Time
	consider := func(t time.Time) {
		if !t.IsZero() && (next.IsZero() || t.Before(next)) {
			next = t
		}
	}
	for _, exp := range g.pendingMembers {
		consider(exp)
	}
	for _, m := range g.members {
		if !m.keptAlive() {
			consider(m.heartbeatDeadline)
		}
	}
	if g.state == StatePreparingRebalance {
		consider(g.rebalanceDeadline)
	}
	if len(g.pendingSync) > 0 && (g.state == StateCompletingRebalance || g.state == StateStable) {
		consider(g.syncDeadline) // the states in which timeoutsLocked acts on it
	}
	return next
}
