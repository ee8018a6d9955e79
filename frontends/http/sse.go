package httpfront

import (
	"bufio"
	"time"
)

// sseLoop is the body of a server-sent event stream, the same for a
// call's results and the live statistics: the reconnection delay, the
// events already known, then each new one from next as it comes, until
// next closes, last says the event was the stream's last, a write fails
// (the client has gone), or the server stops. A comment line every
// heartbeat keeps proxies from closing an idle stream and notices a
// client that has gone.
func sseLoop[T any](bw *bufio.Writer, past []T, next <-chan T, write func(*bufio.Writer, T) error, last func(T) bool,
	heartbeat time.Duration, stopping <-chan struct{}) {
	// The reconnection delay an EventSource uses if the stream breaks.
	if _, err := bw.WriteString("retry: 2000\n\n"); err != nil {
		return
	}
	for _, ev := range past {
		if write(bw, ev) != nil {
			return
		}
	}
	if bw.Flush() != nil {
		return
	}
	tick := time.NewTicker(heartbeat)
	defer tick.Stop()
	for {
		select {
		case ev, ok := <-next:
			if !ok || write(bw, ev) != nil || bw.Flush() != nil || last(ev) {
				return
			}
		case <-tick.C:
			if _, err := bw.WriteString(": heartbeat\n\n"); err != nil || bw.Flush() != nil {
				return
			}
		case <-stopping:
			return
		}
	}
}
