package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/clicktocall/clicktocall/config"
)

func TestDemoConnectsACallInEachMode(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cfg, err := config.Load("../../config.hcl")
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := demo(ctx, cfg, t.TempDir(), &out); err != nil {
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
	path := writeFile(t, "bad.hcl", "sip {\n  udp_tcp_port = \"x\"\n}\n")
	if status, out, errOut := run("demo", "-config", path); status != 1 || out != "" || !strings.Contains(errOut, "bad.hcl:2") {
		t.Errorf("demo on a bad config: status %d, stdout %q, stderr %q; want 1 and an error at bad.hcl:2", status, out, errOut)
	}
}
