package xml

import (
	"testing"
	"time"

	"github.com/clicktocall/clicktocall/actors"
	"github.com/clicktocall/clicktocall/config"
)

// refusingStarter refuses every call as the engine does past a limit.
type refusingStarter struct{ refusal *actors.Refusal }

func (r refusingStarter) StartCall(actors.CallRequest, func(actors.Progress)) (string, error) {
	return "", r.refusal
}

func TestEveryLimitIsA503AndTheConnectionStaysUsable(t *testing.T) {
	for _, refusal := range []*actors.Refusal{
		{Code: 503, Text: "Too many active calls", RetryAfter: time.Second},
		{Code: 503, Text: "Too many calls to this initiator", RetryAfter: 5 * time.Second},
		{Code: 429, Text: "Call rate limit reached for this client", RetryAfter: time.Second},
	} {
		t.Run(refusal.Text, func(t *testing.T) {
			s := startServer(t, config.XML{}, refusingStarter{refusal})
			c := dial(t, s.Addr().String())
			for i := 0; i < 3; i++ {
				c.send(callRequest("sip:a@x", "1"))
				r := c.next()
				if r.Response.Result.Code != 503 || r.Response.Result.Text != refusal.Text || !r.final() {
					t.Fatalf("got %s, want the final 503 %s", r.summary(), refusal.Text)
				}
			}
		})
	}
}
