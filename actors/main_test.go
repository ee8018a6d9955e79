package actors

import (
	"flag"
	"os"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"
)

func TestMain(m *testing.M) {
	flag.Parse()
	if flag.Lookup("test.bench").Value.String() != "" {
		// Benchmarks keep RFC 3261's timers: a short T1 would flood a
		// loaded machine with retransmissions.
		os.Exit(m.Run())
	}
	// sipgo's transaction timers are process-wide; 64*T1 (Timer B, M, J)
	// becomes 6.4 s so finished transactions, and the goroutines that wait
	// on them, are gone in time for the leak checks.
	sip.SetTimers(100*time.Millisecond, 4*time.Second, 5*time.Second)
	os.Exit(m.Run())
}
