package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"
)

func TestDemoConnectsACallInEachMode(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var out bytes.Buffer
	if err := demo(ctx, "../../config.hcl", t.TempDir(), &out); err != nil {
		t.Fatalf("demo: %v\n%s", err, out.String())
	}
	text := out.String()
	for _, want := range []string{
		"call REFER (unanchored)",
		"alice  accepts the REFER (202)",
		"alice  NOTIFYs the server: the transfer got 200 OK",
		"call anchored (3PCC)",
		"alice  gets a re-INVITE",
		"bob    hangs up (BYE)",
		"both calls connected",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("demo output lacks %q:\n%s", want, text)
		}
	}
	if n := strings.Count(text, "XML <- 200 Leg=Destination Connected to destination"); n != 2 {
		t.Errorf("%d calls connected, want 2:\n%s", n, text)
	}
}

func TestDemoFailsOnABadConfig(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	path := writeFile(t, "bad.hcl", "sip {\n  udp_tcp_port = \"x\"\n}\n")
	var out bytes.Buffer
	if err := demo(ctx, path, t.TempDir(), &out); err == nil || !strings.Contains(err.Error(), "bad.hcl:2") {
		t.Errorf("demo on a bad config: %v, want an error at bad.hcl:2", err)
	}
}
