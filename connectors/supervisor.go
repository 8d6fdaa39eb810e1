package connectors

import (
	"context"
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
func (s *supervisor) running() { s.setState(StateRunning) }

func (s *supervisor) snapshot() (state, lastErr string, lastErrAt time.Time, restarts int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.state, s.lastErr, s.lastErrAt, s.nRestarts
}

// noteError records err as the last error without a restart (a sink
// retrying a write to a target that is down).
func (s *supervisor) noteError(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.lastErr, s.lastErrAt = err.Error(), time.Now()
}
