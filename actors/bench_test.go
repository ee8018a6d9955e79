package actors

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/clicktocall/clicktocall/bench/phone"
)

// BenchmarkReferCall places b.N REFER click-to-calls, 200 at a time,
// through in-process phones (which take part of the CPU): a profile of the
// engine and transport on the hot path (go test -bench ReferCall
// -cpuprofile cpu.out ./actors).
func BenchmarkReferCall(b *testing.B) { benchmarkCalls(b, false) }

// BenchmarkAnchoredCall is the same with anchored calls that the
// destination hangs up at once.
func BenchmarkAnchoredCall(b *testing.B) { benchmarkCalls(b, true) }

func benchmarkCalls(b *testing.B, anchor bool) {
	t := &testing.T{}
	h := newHarness(t, harnessOpts{dest: phone.Behaviour{TalkTime: time.Millisecond}})
	b.Cleanup(func() { h.init.Close(); h.dest.Close() })
	init, dest := h.uri(h.init), h.uri(h.dest)
	sem := make(chan struct{}, 200)
	var wg sync.WaitGroup
	var mu sync.Mutex
	failed := map[string]int{}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		sem <- struct{}{}
		wg.Add(1)
		_, err := h.eng.StartCall(CallRequest{Initiator: init, Destination: dest, Anchor: anchor}, func(p Progress) {
			if p.Final() {
				if p.Code != 200 {
					mu.Lock()
					failed[fmt.Sprintf("%d %s", p.Code, p.Leg)]++
					mu.Unlock()
				}
				<-sem
				wg.Done()
			}
		})
		if err != nil {
			b.Fatal(err)
		}
	}
	wg.Wait()
	b.StopTimer()
	if len(failed) > 0 {
		b.Errorf("failed calls of %d: %v", b.N, failed)
	}
}
