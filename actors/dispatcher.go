package actors

import (
	"runtime"

	"github.com/asynkron/protoactor-go/actor"
)

// poolDispatcher runs actor mailboxes on long-lived worker goroutines
// instead of a new goroutine per mailbox run (protoactor's default). Call
// actors run a few messages at a time, thousands of times a second, and a
// fresh goroutine grows its stack anew each time; workers keep theirs.
// When every worker is busy the run gets a goroutine of its own, so a
// blocked actor can never stall the others.
type poolDispatcher struct {
	work chan func()
}

// newPoolDispatcher starts workers goroutines that live as long as the process.
func newPoolDispatcher(workers int) *poolDispatcher {
	d := &poolDispatcher{work: make(chan func())}
	for range workers {
		go func() {
			for fn := range d.work {
				fn()
			}
		}()
	}
	return d
}

func (d *poolDispatcher) Schedule(fn func()) {
	select {
	case d.work <- fn:
	default:
		go fn()
	}
}

// Throughput is how many messages a mailbox run takes before yielding,
// protoactor's default.
func (d *poolDispatcher) Throughput() int { return 300 }

// callDispatcher runs every call actor of the process.
var callDispatcher actor.Dispatcher = newPoolDispatcher(4 * runtime.GOMAXPROCS(0))
