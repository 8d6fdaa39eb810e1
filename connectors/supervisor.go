package connectors

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Component states shown by Status and /readyz.
const (
	StateStarting   = "starting"
	StateRunning    = "running"
	StateRestarting = "restarting" // failed; waiting for the backoff
	StateStopped    = "stopped"
	// StateRetrying: the component runs but its upstream or downstream is
	// unreachable (its Check fails); it reconnects by itself.
	StateRetrying = "retrying"
	// StateDegraded: the component runs but part of its input is gone (a
	// table dropped); the rest keeps flowing (Check returned a *DegradedError).
	StateDegraded = "degraded"
)

// supervisor runs one source or sink: run again after every failure with a
// capped exponential backoff, the error logged and counted. The backoff
// starts over once a run lasted longer than Backoff.Max (it was healthy).
type supervisor struct {
	log      *slog.Logger
	backoff  Backoff
	restarts prometheus.Counter
	errors   prometheus.Counter

	mu        sync.Mutex
	state     string
	lastErr   string
	lastErrAt time.Time
	nRestarts int
	retries   int       // consecutive failed attempts (restarts or checks) since the last healthy state
	nextAt    time.Time // the next restart or check; zero when healthy
	warnedAt  time.Time // last check-failure warning (rate limit)
}

func newSupervisor(log *slog.Logger, b Backoff, restarts, errs prometheus.Counter) *supervisor {
	return &supervisor{log: log, backoff: b, restarts: restarts, errors: errs, state: StateStarting}
}

// run calls fn until ctx is done; fn returns nil only when ctx is done (a
// clean stop), any error otherwise. It returns once fn returned after ctx
// is done.
func (s *supervisor) run(ctx context.Context, fn func(ctx context.Context) error) {
	defer s.setState(StateStopped)
	for attempt := 0; ; {
		s.setState(StateStarting)
		start := time.Now()
		err := fn(ctx)
		if ctx.Err() != nil {
			if err != nil {
				s.log.Debug("stopped with error after shutdown began", "err", err)
			}
			return
		}
		if err == nil {
			// fn must not return nil before ctx is done; treat it as a failure
			// so nothing silently stops.
			err = errStoppedEarly
		}
		if time.Since(start) > s.backoff.Max {
			attempt = 0
		}
		d := s.backoff.delay(attempt)
		attempt++
		s.mu.Lock()
		s.state, s.lastErr, s.lastErrAt = StateRestarting, err.Error(), time.Now()
		s.nRestarts++
		s.retries++
		s.nextAt = s.lastErrAt.Add(d)
		s.mu.Unlock()
		s.errors.Inc()
		s.restarts.Inc()
		s.log.Error("failed; restarting after backoff", "err", err, "backoff", d, "attempt", attempt)
		t := time.NewTimer(d)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
	}
}

func (s *supervisor) setState(st string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.state = st
}

// running marks the component up (after its Open succeeded).
func (s *supervisor) running() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.state, s.retries, s.nextAt = StateRunning, 0, time.Time{}
}

// supState is a snapshot of a supervisor for Status and Ready.
type supState struct {
	state, lastErr    string
	lastErrAt, nextAt time.Time
	restarts, retries int
}

func (s *supervisor) snapshot() supState {
	s.mu.Lock()
	defer s.mu.Unlock()
	return supState{s.state, s.lastErr, s.lastErrAt, s.nextAt, s.nRestarts, s.retries}
}

// checked records the result of a health check of a running component:
// a failure turns it retrying (degraded for a *DegradedError) with the
// error, the count of consecutive failures and the next check; success
// after failures turns it running again. Only a running, retrying or
// degraded component changes state (a restart owns the others). The first
// failure, every change of error and then one a minute are logged as
// warnings; the recovery at Info.
func (s *supervisor) checked(err error, next time.Time) {
	now := time.Now()
	s.mu.Lock()
	switch s.state {
	case StateRunning, StateRetrying, StateDegraded:
	default:
		s.mu.Unlock()
		return
	}
	if err == nil {
		was, n := s.state, s.retries
		s.state, s.retries, s.nextAt = StateRunning, 0, time.Time{}
		s.mu.Unlock()
		if was != StateRunning {
			s.log.Info("recovered", "was", was, "failed_checks", n)
		}
		return
	}
	st := StateRetrying
	var de *DegradedError
	if errors.As(err, &de) {
		st = StateDegraded
	}
	msg := err.Error()
	warn := s.state != st || s.lastErr != msg || now.Sub(s.warnedAt) >= time.Minute
	s.state, s.lastErr, s.lastErrAt, s.nextAt = st, msg, now, next
	s.retries++
	n := s.retries
	if warn {
		s.warnedAt = now
	}
	s.mu.Unlock()
	s.errors.Inc()
	if warn {
		s.log.Warn("health check failed", "state", st, "err", msg, "failed_checks", n, "next_check", next.Format(time.RFC3339))
	}
}

// noteError records err as the last error without a restart (a sink
// retrying a write to a target that is down).
func (s *supervisor) noteError(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.lastErr, s.lastErrAt = err.Error(), time.Now()
}
