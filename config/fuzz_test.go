package config

import (
	"regexp"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/hashicorp/hcl/v2/hclparse"
	"golang.org/x/text/unicode/norm"
)

// FuzzTranslate checks that Translate never panics and that whatever it
// returns without error is a valid SIP URI, for fuzzed rules and input.
func FuzzTranslate(f *testing.F) {
	f.Add("(.*)$", "sip:$1@sipdomain.com", "9055551234")
	f.Add("^(\\d)(\\d+)$", "sip:$1x$2@gw", "123")
	f.Add("(.*)", "$1", "sip:a@b>;x")
	f.Add("(.*)", "$1", "sip:[::1")
	f.Add("(.*)", "sip:$1@h", "a;b=c?d=e&f")
	f.Add("^(.+)@(.+)$", "sips:$1@$2:$1", "x@y")
	f.Fuzz(func(t *testing.T, pattern, output, address string) {
		re, err := regexp.Compile(pattern)
		if err != nil {
			return
		}
		uri, err := Translate([]Rule{{Pattern: re, Output: rewriteOutput(output)}}, address)
		if err != nil {
			if uri != "" {
				t.Errorf("error %v with result %q", err, uri)
			}
			return
		}
		if verr := ValidateSIPURI(uri); verr != nil {
			t.Errorf("Translate returned %q, which is not valid: %v", uri, verr)
		}
		if !strings.HasPrefix(strings.ToLower(uri), "sip:") && !strings.HasPrefix(strings.ToLower(uri), "sips:") {
			t.Errorf("Translate returned %q, not a sip/sips URI", uri)
		}
	})
}

// FuzzImportConfig checks that ImportOriginal never panics, that what it
// produces is always syntactically valid HCL, and that a string value comes
// back from config.hcl as the original meant it (in normal form C, as HCL
// reads it).
func FuzzImportConfig(f *testing.F) {
	f.Add(originalSample, "cc.example.com")
	f.Add("TranslationPattern = ${x}\nTranslationOutput = %{y}\n", `"quoted"`)
	f.Add("HttpPort = 5090\r\nKeepAlives = 1\r\n", `$${`)
	f.Add("DNSServers = ,,\n", "back\\slash\t")
	f.Fuzz(func(t *testing.T, file, value string) {
		out, _, err := ImportOriginal([]byte(file), "fuzz.config")
		if err == nil {
			if _, diags := hclparse.NewParser().ParseHCL(out, "out.hcl"); diags.HasErrors() {
				t.Fatalf("import produced invalid HCL: %v\n%s", diags, out)
			}
		}
		if strings.ContainsAny(value, "\r\n") || !utf8.ValidString(value) {
			return
		}
		out, _, err = ImportOriginal([]byte("TLSDomainName = "+value+"\n"), "fuzz.config")
		if err != nil {
			t.Fatalf("one string setting failed: %v", err)
		}
		cfg, err := Parse(out, "out.hcl")
		if err != nil {
			t.Fatalf("Parse: %v\n%s", err, out)
		}
		// HCL reads every string literal in Unicode normal form C, so a
		// value comes back as its canonical equivalent (U+0341 as U+0301).
		if want := norm.NFC.String(strings.TrimSpace(unquote(strings.TrimSpace(value)))); cfg.SIP.TLSDomain != want {
			t.Errorf("TLSDomainName %q came back as %q\n%s", want, cfg.SIP.TLSDomain, out)
		}
	})
}
