package loadtest

import (
	"fmt"
	"math"
)

// SearchConfig bounds an RFC 7502-style search for the highest call rate
// with no failed call: step up by Factor from Start while trials pass, then
// bisect between the highest passing and the lowest failing rate until
// they are within Resolution, in at most MaxSteps trials.
type SearchConfig struct {
	Start      float64 // first rate tried, calls/s
	Max        float64 // never try above this
	Factor     float64 // step-up (and, before any pass, step-down) factor, > 1
	Resolution float64 // stop when the bracket is this narrow, calls/s
	MaxSteps   int     // trials at most
}

func (c SearchConfig) validate() error {
	switch {
	case c.Start <= 0 || c.Max < c.Start:
		return fmt.Errorf("search: want 0 < start (%g) <= max (%g)", c.Start, c.Max)
	case c.Factor <= 1:
		return fmt.Errorf("search: factor %g must be > 1", c.Factor)
	case c.Resolution <= 0:
		return fmt.Errorf("search: resolution %g must be > 0", c.Resolution)
	case c.MaxSteps < 1:
		return fmt.Errorf("search: at least one step, got %d", c.MaxSteps)
	}
	return nil
}

// SearchStep is one trial of a search.
type SearchStep struct {
	Rate float64 `json:"rate"`
	Pass bool    `json:"pass"`
}

// Search runs trial at the rates the search picks and returns the steps and
// the highest rate that passed (0 if none did). A trial error stops it.
func Search(c SearchConfig, trial func(rate float64) (pass bool, err error)) (steps []SearchStep, best float64, err error) {
	if err := c.validate(); err != nil {
		return nil, 0, err
	}
	lo, hi := 0.0, math.Inf(1) // highest pass, lowest failure
	rate := math.Round(c.Start)
	for len(steps) < c.MaxSteps {
		pass, err := trial(rate)
		if err != nil {
			return steps, lo, err
		}
		steps = append(steps, SearchStep{Rate: rate, Pass: pass})
		if pass {
			lo = rate
		} else {
			hi = rate
		}
		var next float64
		switch {
		case pass && math.IsInf(hi, 1):
			if rate >= c.Max {
				return steps, lo, nil // passes at the ceiling
			}
			next = math.Min(rate*c.Factor, c.Max)
		case !pass && lo == 0:
			next = rate / c.Factor // back off until something passes
			if next < 1 {
				return steps, 0, nil
			}
		default:
			if hi-lo <= c.Resolution {
				return steps, lo, nil
			}
			next = (lo + hi) / 2
		}
		rate = math.Round(next)
		if rate == lo || rate == hi {
			return steps, lo, nil // integer rates: nothing left between them
		}
	}
	return steps, lo, nil
}
