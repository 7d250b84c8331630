package server

import (
	"context"
	"errors"
	"sync/atomic"
	"time"
)

// admission lets at most a fixed number of inference requests be read,
// prepared and run at once. Past that a request waits, parked and with its
// body still unread, in a bounded first-come first-served line for at most
// a set time. Waiting costs no CPU, so under overload the processors keep
// doing the work of the admitted requests instead of answering a flood of
// 429s, and a client that sends faster than the server can serve is slowed
// to its pace (its requests take longer) before any is refused.
type admission struct {
	slots   chan struct{}
	waiting atomic.Int64
	// maxWaiting bounds the line; maxWait bounds a request's time in it.
	maxWaiting int64
	maxWait    time.Duration
}

var (
	// errLineFull: the line of waiting requests is full.
	errLineFull = errors.New("admission: the line is full")
	// errWaitedTooLong: the request waited its longest in the line.
	errWaitedTooLong = errors.New("admission: waited too long")
)

func newAdmission(inFlight, waiting int, maxWait time.Duration) *admission {
	return &admission{slots: make(chan struct{}, inFlight), maxWaiting: int64(waiting), maxWait: maxWait}
}

// acquire takes a slot, waiting in line when none is free. It fails with
// errLineFull, errWaitedTooLong or the context's error; on success the
// caller must release.
func (a *admission) acquire(ctx context.Context) error {
	select {
	case a.slots <- struct{}{}:
		return nil
	default:
	}
	if a.waiting.Add(1) > a.maxWaiting {
		a.waiting.Add(-1)
		return errLineFull
	}
	defer a.waiting.Add(-1)
	if a.maxWait <= 0 {
		return errWaitedTooLong
	}
	timer := time.NewTimer(a.maxWait)
	defer timer.Stop()
	// Goroutines blocked sending on a channel are served in arrival order.
	select {
	case a.slots <- struct{}{}:
		return nil
	case <-timer.C:
		return errWaitedTooLong
	case <-ctx.Done():
		return ctx.Err()
	}
}

// release gives back a slot taken by acquire.
func (a *admission) release() { <-a.slots }

// inFlight is the number of requests holding a slot.
func (a *admission) inFlight() int { return len(a.slots) }

// queued is the number of requests waiting in line.
func (a *admission) queued() int { return int(a.waiting.Load()) }
