package config

import (
	"errors"
	"regexp"
	"testing"
)

func rules(t *testing.T, src string) []Rule {
	t.Helper()
	cfg, err := Parse([]byte(src), "rules.hcl")
	if err != nil {
		t.Fatal(err)
	}
	return cfg.Translation
}

func TestSeedExampleRule(t *testing.T) {
	// The seed: TranslationPattern=(.*)$ / TranslationOutput=sip:$1@sipdomain.com
	r := rules(t, "translation {\n  pattern = \"(.*)$\"\n  output = \"sip:$1@sipdomain.com\"\n}\n")
	got, err := Translate(r, "9055551234")
	if err != nil || got != "sip:9055551234@sipdomain.com" {
		t.Errorf("got %q, %v", got, err)
	}
	if r[0].Range.Filename != "rules.hcl" || r[0].Range.Start.Line != 1 {
		t.Errorf("rule range = %v", r[0].Range)
	}
}

func TestDollarDigitIsOneGroupThenText(t *testing.T) {
	r := rules(t, `
translation {
  pattern = "^(\\d)(\\d+)$"
  output  = "sip:$1x$2@gw$$.example.com"
}
translation {
  pattern = "^(?P<user>[a-z]+)$"
  output  = "sip:$${user}@example.com"
}
`)
	if got, err := Translate(r, "123"); err != nil || got != "sip:1x23@gw$.example.com" {
		t.Errorf("$1x: got %q, %v", got, err)
	}
	// In HCL a literal ${ is written $${, which reaches Go as ${user}: a named group.
	if got, err := Translate(r, "bob"); err != nil || got != "sip:bob@example.com" {
		t.Errorf("${user}: got %q, %v", got, err)
	}
}

func TestRewriteOutput(t *testing.T) {
	for in, want := range map[string]string{
		"sip:$1@x":     "sip:${1}@x",
		"$1x":          "${1}x",
		"$10":          "${1}0",
		"$$1":          "$$1",
		"${user}@$2":   "${user}@${2}",
		"no dollars":   "no dollars",
		"trailing $":   "trailing $",
		"$0 whole":     "${0} whole",
		"$name stays":  "$name stays",
		"$$$1 literal": "$$${1} literal",
	} {
		if got := rewriteOutput(in); got != want {
			t.Errorf("rewriteOutput(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestWholeInputIsReplaced(t *testing.T) {
	// The pattern matches only "555"; the output still replaces the whole address.
	r := []Rule{{Pattern: regexp.MustCompile(`5+`), Output: "sip:${0}@example.com"}}
	if got, err := Translate(r, "x555y"); err != nil || got != "sip:555@example.com" {
		t.Errorf("got %q, %v", got, err)
	}
}

func TestFirstMatchingRuleWins(t *testing.T) {
	r := rules(t, `
translation {
  pattern = "^1"
  output  = "sip:first@a.example"
}
translation {
  pattern = ".*"
  output  = "sip:second@b.example"
}
`)
	if got, _ := Translate(r, "123"); got != "sip:first@a.example" {
		t.Errorf("got %q", got)
	}
	if got, _ := Translate(r, "923"); got != "sip:second@b.example" {
		t.Errorf("got %q", got)
	}
}

func TestNoTranslationRule(t *testing.T) {
	r := rules(t, "translation {\n  pattern = \"^\\\\d+$\"\n  output = \"sip:$0@x.example\"\n}\n")
	_, err := Translate(r, "alice")
	if !errors.Is(err, ErrNoTranslationRule) || errors.Is(err, ErrInvalidURI) {
		t.Fatalf("err = %v", err)
	}
	if err.Error() != "No translation rule for alice" {
		t.Errorf("text = %q", err.Error())
	}
	if _, err := Translate(nil, "x"); !errors.Is(err, ErrNoTranslationRule) {
		t.Errorf("no rules: %v", err)
	}
}

func TestInvalidURIFormat(t *testing.T) {
	r := rules(t, "translation {\n  pattern = \"(?s)(.*)\"\n  output = \"$1\"\n}\n")
	for _, in := range []string{
		"9055551234",                // no scheme
		"http://example.com",        // not sip
		"sip:",                      // nothing
		"sip:alice@",                // no host
		"sip:a@b>;x=<sip:c@d>",      // header injection
		"sip:a@b c",                 // space
		"sip:a@b:99999",             // port
		"sip:a@[::1",                // bracket
		"sip:a@[192.0.2.1]",         // not v6
		"sip:a@b@c",                 // two @
		"tel:+15551234",             // other scheme
		"sip:a@b\r\nVia: x",         // CRLF
		"sip:caf\u00e9@example.com", // raw non-ASCII
	} {
		got, err := Translate(r, in)
		if !errors.Is(err, ErrInvalidURI) {
			t.Errorf("Translate(%q) = %q, %v; want ErrInvalidURI", in, got, err)
			continue
		}
		if want := "Invalid URI format " + in; err.Error() != want {
			t.Errorf("text = %q, want %q", err.Error(), want)
		}
		var te *TranslationError
		if !errors.As(err, &te) || te.Reason == nil || te.Input != in {
			t.Errorf("TranslationError = %+v", te)
		}
	}
	for _, ok := range []string{"sip:alice@example.com", "sips:bob@example.com:5061;transport=tls", "sip:[2001:db8::1]:5060", "sip:example.com", "SIP:a@B"} {
		if _, err := Translate(r, ok); err != nil {
			t.Errorf("Translate(%q): %v", ok, err)
		}
	}
}
