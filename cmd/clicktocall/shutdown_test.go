package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"

	simphone "github.com/clicktocall/clicktocall/bench/phone"
)

// A phone that vanished mid-call leaves the server's BYE retransmitting
// (Timer F, 32 s) when SIGTERM comes: the server gives up at
// shutdown_timeout, says so, and still exits 0 (docs/reliability.md: a
// signalled stop exits 0 within shutdown_timeout); the phone that is still
// there gets its BYE.
func TestSIGTERMWithAVanishedPhoneExitsZeroInTime(t *testing.T) {
	mk := func(user string) *simphone.Phone {
		p, err := simphone.New(simphone.Config{User: user, Transports: []string{"udp"}})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { p.Close() })
		return p
	}
	alice, bob := mk("alice"), mk("bob")
	aliceURI, bobURI := alice.URI("udp"), bob.URI("udp")
	s := startServer(t, serverOptions{})
	s.stopped = true // this test stops it itself
	t.Cleanup(func() { _ = s.cmd.Process.Kill() })

	body, _ := json.Marshal(map[string]any{"initiator": aliceURI.String(), "destination": bobURI.String(), "anchor": true})
	res, err := http.Post("http://"+s.httpAddr()+"/api/v1/calls", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusCreated {
		t.Fatalf("POST /api/v1/calls: %d", res.StatusCode)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if _, err := bob.WaitCall(ctx, simphone.InState(simphone.CallConfirmed)); err != nil {
		t.Fatal(err)
	}
	if err := alice.Close(); err != nil { // gone without a word
		t.Fatal(err)
	}

	const shutdownTimeout = 5 * time.Second // startServer's
	began := time.Now()
	if err := s.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-s.exited:
	case <-time.After(shutdownTimeout + 5*time.Second):
		t.Fatalf("still running %v after SIGTERM", shutdownTimeout+5*time.Second)
	}
	took := time.Since(began)
	if s.waitErr != nil {
		t.Errorf("exit after SIGTERM: %v, want status 0\n%s", s.waitErr, s.output.String())
	}
	if took > shutdownTimeout+2*time.Second {
		t.Errorf("exited %v after SIGTERM, shutdown_timeout is %v", took, shutdownTimeout)
	}
	if out := s.output.String(); !strings.Contains(out, "stopped at shutdown_timeout, incomplete") {
		t.Errorf("the banner does not say what the stop left:\n%s", out)
	}
	if _, err := bob.WaitCall(ctx, simphone.Received(sip.BYE)); err != nil {
		t.Errorf("bob got no BYE: %v", err)
	}
}
