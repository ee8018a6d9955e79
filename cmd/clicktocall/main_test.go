package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/clicktocall/clicktocall/config"
)

// run calls a subcommand the way main does, capturing its output.
func run(args ...string) (status int, stdout, stderr string) {
	var out, errOut bytes.Buffer
	status = dispatch(args, &out, &errOut)
	return status, out.String(), errOut.String()
}

func writeFile(t *testing.T, name, text string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestCheckShippedConfig(t *testing.T) {
	status, out, errOut := run("check", "-config", "../../config.hcl")
	if status != 0 {
		t.Fatalf("check exited %d: %s", status, errOut)
	}
	for _, want := range []string{
		"sip.udp_tcp_port = 5072\n",
		"sip.identity = \"sip:clicktocall@example.com\"\n",
		"http.port = 5090\n",
		"xml.port = 5094\n",
		"log.level = \"INFO\"\n",
		"sip.ring_timeout = \"1m\"\n",
		"translation[1] = ../../config.hcl:",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("check output lacks %q:\n%s", want, out)
		}
	}
}

func TestCheckReportsFileAndLine(t *testing.T) {
	path := writeFile(t, "bad.hcl", "sip {\n  udp_tcp_port = 5072\n  identiy = \"sip:a@b\"\n}\n")
	status, out, errOut := run("check", "-config", path)
	if status != 1 || out != "" || !strings.Contains(errOut, path+":3:") {
		t.Errorf("status %d, stdout %q, stderr %q", status, out, errOut)
	}
	if status, _, errOut := run("check", "-config", filepath.Join(t.TempDir(), "none.hcl")); status != 1 || !strings.Contains(errOut, "none.hcl") {
		t.Errorf("missing file: status %d, stderr %q", status, errOut)
	}
}

func TestTranslateCommand(t *testing.T) {
	path := writeFile(t, "rules.hcl", "translation {\n  pattern = \"^(\\\\d+)$\"\n  output = \"sip:$1@sipdomain.com\"\n}\ntranslation {\n  pattern = \"^bad$\"\n  output = \"nope\"\n}\n")
	status, out, _ := run("translate", "-config", path, "9055551234")
	if status != 0 || out != "9055551234 -> sip:9055551234@sipdomain.com\n" {
		t.Errorf("status %d, out %q", status, out)
	}
	status, out, _ = run("translate", "-config", path, "9055551234", "alice", "bad")
	want := "9055551234 -> sip:9055551234@sipdomain.com\nalice: No translation rule for alice\nbad: Invalid URI format nope\n"
	if status != 1 || out != want {
		t.Errorf("status %d, out %q, want %q", status, out, want)
	}
	if status, _, _ := run("translate", "-config", path); status != 2 {
		t.Errorf("no address: status %d", status)
	}
}

func TestImportConfigCommand(t *testing.T) {
	orig := writeFile(t, "clicktocall.config", "ClickToCallIdentity = sip:cc@sipdomain.com\nHttpPort=8080\nFoo = 1\nTranslationPattern=(.*)$\nTranslationOutput=sip:$1@sipdomain.com\n")
	status, out, errOut := run("import-config", orig)
	if status != 0 {
		t.Fatalf("status %d: %s", status, errOut)
	}
	if !strings.Contains(errOut, orig+":3:") || !strings.Contains(errOut, `"Foo"`) {
		t.Errorf("stderr %q should report Foo at line 3", errOut)
	}
	cfg, err := config.Parse([]byte(out), "imported.hcl")
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if cfg.HTTP.Port != 8080 || cfg.SIP.Identity != "sip:cc@sipdomain.com" {
		t.Errorf("imported %+v", cfg)
	}
	if uri, err := config.Translate(cfg.Translation, "9055551234"); err != nil || uri != "sip:9055551234@sipdomain.com" {
		t.Errorf("rule: %q %v", uri, err)
	}

	unpaired := writeFile(t, "bad.config", "TranslationOutput=sip:x@y\n")
	if status, out, errOut := run("import-config", unpaired); status != 1 || out != "" || !strings.Contains(errOut, ":1:") {
		t.Errorf("unpaired: status %d, out %q, err %q", status, out, errOut)
	}
	if status, _, _ := run("import-config"); status != 2 {
		t.Errorf("no file: status %d", status)
	}
}

func TestVersionAndDispatch(t *testing.T) {
	status, out, _ := run("version")
	if status != 0 || !strings.HasPrefix(out, "clicktocall dev") {
		t.Errorf("version: %d %q", status, out)
	}
	if status, _, errOut := run("frobnicate"); status != 2 || !strings.Contains(errOut, "unknown command") {
		t.Errorf("unknown: %d %q", status, errOut)
	}
	if status, out, _ := run("help"); status != 0 || !strings.Contains(out, "import-config") {
		t.Errorf("help: %d %q", status, out)
	}
	if status, _, _ := run("check", "-nosuchflag"); status != 2 {
		t.Errorf("bad flag: %d", status)
	}
	if status, _, _ := run("check", "-h"); status != 0 {
		t.Errorf("-h: %d", status)
	}
}

func TestServeStopsOnABadConfig(t *testing.T) {
	path := writeFile(t, "bad.hcl", "log {\n  level = \"LOUD\"\n}\n")
	if status := serve([]string{"-config", path}); status != 1 {
		t.Errorf("serve with a bad config exited %d, want 1", status)
	}
}
