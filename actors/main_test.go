package actors

import (
	"os"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"
)

func TestMain(m *testing.M) {
	// sipgo's transaction timers are process-wide; 64*T1 (Timer B, M, J)
	// becomes 6.4 s so finished transactions, and the goroutines that wait
	// on them, are gone in time for the leak checks.
	sip.SetTimers(100*time.Millisecond, 4*time.Second, 5*time.Second)
	os.Exit(m.Run())
}
