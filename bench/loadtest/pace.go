package loadtest

import (
	"math"
	"time"
)

// schedule says when each call of a trial is due: rate calls/s from time
// 0, or, with a ramp, a rate that rises linearly from 0 to rate over ramp
// and then holds (the way load reaches a server in production, and what
// lets a freshly started server's overload protection admit a soak's
// rate without refusing its first second).
type schedule struct {
	rate float64
	ramp time.Duration
}

// calls is how many calls s has made due in the first t seconds.
func (s schedule) calls(t float64) float64 {
	r := s.ramp.Seconds()
	if t < r {
		return s.rate * t * t / (2 * r)
	}
	return s.rate * (t - r/2)
}

// total is the number of calls s makes due in a trial of d.
func (s schedule) total(d time.Duration) int {
	return max(1, int(math.Round(s.calls(d.Seconds()))))
}

// at is when call k (from 0) is due.
func (s schedule) at(k int) time.Duration {
	r := s.ramp.Seconds()
	n := float64(k)
	var t float64
	if n < s.rate*r/2 {
		t = math.Sqrt(2 * r * n / s.rate)
	} else {
		t = n/s.rate + r/2
	}
	return time.Duration(t * float64(time.Second))
}

// due is how many of total calls are due after elapsed: the first one goes
// at once.
func (s schedule) due(elapsed time.Duration, total int) int {
	if elapsed < 0 {
		return 0
	}
	return min(int(s.calls(elapsed.Seconds()))+1, total)
}

// pace calls dispatch(k) for k = 0..total-1, each at (or as soon as it can
// after) start + s.at(k), in batches of the calls that fell due while it
// slept. It returns the largest delay of a call behind its due time, which
// says whether the load generator kept up. stop ends it early.
func pace(start time.Time, s schedule, total int, stop <-chan struct{}, dispatch func(k int)) (sent int, lag time.Duration) {
	for sent < total {
		now := time.Now()
		n := s.due(now.Sub(start), total)
		if n > sent {
			lag = max(lag, now.Sub(start.Add(s.at(n-1))))
		}
		for ; sent < n; sent++ {
			dispatch(sent)
		}
		if sent == total {
			break
		}
		if d := time.Until(start.Add(s.at(sent))); d > 0 {
			select {
			case <-stop:
				return sent, lag
			case <-time.After(d):
			}
		} else {
			select {
			case <-stop:
				return sent, lag
			default:
			}
		}
	}
	return sent, lag
}
