package loadtest

import (
	"time"
)

// due is how many of total calls sent at rate per second from time 0 are
// due after elapsed: call k (from 0) is due at k/rate, so the first one
// goes at once.
func due(elapsed time.Duration, rate float64, total int) int {
	if elapsed < 0 {
		return 0
	}
	return min(int(elapsed.Seconds()*rate)+1, total)
}

// pace calls dispatch(k) for k = 0..total-1, each at (or as soon as it can
// after) start + k/rate, in batches of the calls that fell due while it
// slept. It returns the largest delay of a call behind its due time, which
// says whether the load generator kept up. stop ends it early.
func pace(start time.Time, rate float64, total int, stop <-chan struct{}, dispatch func(k int)) (sent int, lag time.Duration) {
	for sent < total {
		now := time.Now()
		n := due(now.Sub(start), rate, total)
		if n > sent {
			dueAt := start.Add(time.Duration(float64(n-1) / rate * float64(time.Second)))
			lag = max(lag, now.Sub(dueAt))
		}
		for ; sent < n; sent++ {
			dispatch(sent)
		}
		if sent == total {
			break
		}
		next := start.Add(time.Duration(float64(sent) / rate * float64(time.Second)))
		if d := time.Until(next); d > 0 {
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
