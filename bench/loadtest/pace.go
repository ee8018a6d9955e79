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

// paceTick is the least time pace sleeps; the calls that fall due
// meanwhile go out together, as one batch. Two milliseconds are below
// anything the server times (its timing wheel ticks every 5 ms, its lag
// probe every 20), and at thousands of calls a second they save the bench a
// wake-up, a timer and a write per call: on a machine the bench shares with
// the server and its phones, that is CPU they get. (One millisecond cost the
// bench a quarter more per refused request, and the phones and server a
// tenth of the calls they carried at four times the clean rate; four saved
// nothing more.)
const paceTick = 2 * time.Millisecond

// pace calls dispatch(from, to) for the calls from..to-1 that are due, so
// that each call k goes at (or as soon as it can after) start + s.at(k),
// and none goes early. It returns the largest delay of a call behind its
// due time (up to paceTick when the load generator keeps up). stop ends it
// early.
func pace(start time.Time, s schedule, total int, stop <-chan struct{}, dispatch func(from, to int)) (sent int, lag time.Duration) {
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for sent < total {
		now := time.Now()
		if n := s.due(now.Sub(start), total); n > sent {
			lag = max(lag, now.Sub(start.Add(s.at(sent))))
			dispatch(sent, n)
			sent = n
		}
		if sent == total {
			break
		}
		timer.Reset(max(time.Until(start.Add(s.at(sent))), paceTick))
		select {
		case <-stop:
			return sent, lag
		case <-timer.C:
		}
	}
	return sent, lag
}
