package loadtest

import (
	"math"
	"testing"
)

// capacity is a fake server that fails every trial above its rate.
func capacity(limit float64, tried *[]float64) func(float64) (bool, error) {
	return func(rate float64) (bool, error) {
		*tried = append(*tried, rate)
		return rate <= limit, nil
	}
}

func TestSearchConvergesOnTheCapacity(t *testing.T) {
	cases := []struct {
		name  string
		cfg   SearchConfig
		limit float64
	}{
		{"step up then bisect", SearchConfig{Start: 500, Max: 20000, Factor: 2, Resolution: 50, MaxSteps: 20}, 3333},
		{"start above capacity backs off first", SearchConfig{Start: 8000, Max: 20000, Factor: 2, Resolution: 50, MaxSteps: 20}, 1234},
		{"capacity exactly on a step", SearchConfig{Start: 500, Max: 20000, Factor: 2, Resolution: 10, MaxSteps: 20}, 2000},
	}
	for _, c := range cases {
		var tried []float64
		steps, best, err := Search(c.cfg, capacity(c.limit, &tried))
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if best > c.limit || c.limit-best > c.cfg.Resolution {
			t.Errorf("%s: best %v, want within %v below %v (tried %v)", c.name, best, c.cfg.Resolution, c.limit, tried)
		}
		if len(steps) != len(tried) || len(steps) > c.cfg.MaxSteps {
			t.Errorf("%s: %d steps for %d trials", c.name, len(steps), len(tried))
		}
		for _, s := range steps {
			if s.Pass != (s.Rate <= c.limit) {
				t.Errorf("%s: step %+v recorded wrongly", c.name, s)
			}
		}
	}
}

func TestSearchStopsAtTheStepLimit(t *testing.T) {
	var tried []float64
	cfg := SearchConfig{Start: 100, Max: 1e6, Factor: 2, Resolution: 1, MaxSteps: 4}
	steps, best, err := Search(cfg, capacity(5000, &tried))
	if err != nil {
		t.Fatal(err)
	}
	if len(steps) != 4 || best != 800 {
		t.Errorf("got %d steps, best %v; want 4 steps (100, 200, 400, 800) and 800", len(steps), best)
	}
}

func TestSearchPassingAtTheCeilingStops(t *testing.T) {
	var tried []float64
	cfg := SearchConfig{Start: 1000, Max: 3000, Factor: 2, Resolution: 10, MaxSteps: 10}
	_, best, _ := Search(cfg, capacity(math.Inf(1), &tried))
	if best != 3000 || len(tried) != 3 {
		t.Errorf("best %v after %v, want 3000 after 1000, 2000, 3000", best, tried)
	}
}

func TestSearchWithNothingPassing(t *testing.T) {
	var tried []float64
	cfg := SearchConfig{Start: 8, Max: 100, Factor: 2, Resolution: 1, MaxSteps: 10}
	_, best, _ := Search(cfg, capacity(0, &tried))
	if best != 0 || len(tried) != 4 {
		t.Errorf("best %v after %v, want 0 after 8, 4, 2, 1", best, tried)
	}
}

func TestSearchRejectsBadConfigs(t *testing.T) {
	for _, c := range []SearchConfig{
		{Start: 0, Max: 10, Factor: 2, Resolution: 1, MaxSteps: 1},
		{Start: 10, Max: 5, Factor: 2, Resolution: 1, MaxSteps: 1},
		{Start: 1, Max: 5, Factor: 1, Resolution: 1, MaxSteps: 1},
		{Start: 1, Max: 5, Factor: 2, Resolution: 0, MaxSteps: 1},
		{Start: 1, Max: 5, Factor: 2, Resolution: 1, MaxSteps: 0},
	} {
		if _, _, err := Search(c, func(float64) (bool, error) { return true, nil }); err == nil {
			t.Errorf("Search(%+v): no error", c)
		}
	}
}
