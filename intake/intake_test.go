package intake

import (
	"reflect"
	"strings"
	"testing"

	"github.com/clicktocall/clicktocall/actors"
	"github.com/clicktocall/clicktocall/config"
)

// rules are a gateway for digits and a broken rule for "bad".
func testIntake(t *testing.T) Intake {
	t.Helper()
	cfg, err := config.Parse([]byte(`
translation {
  pattern = "^(\\d+)$"
  output  = "sip:$1@gateway.example.com"
}
translation {
  pattern = "^bad$"
  output  = "sip:bad uri"
}
translation {
  pattern = "^(sips?:.*)$"
  output  = "$1"
}
`), "test.hcl")
	if err != nil {
		t.Fatal(err)
	}
	return Intake{Translate: func(a string) (string, error) { return config.Translate(cfg.Translation, a) }}
}

func TestCheckNamesEachProblemWithItsEnding(t *testing.T) {
	in := testIntake(t)
	long := strings.Repeat("1", MaxValueLen+1)
	for _, tc := range []struct {
		name                   string
		initiator, destination string
		ending                 actors.Ending
		text                   string
	}{
		{"both missing", "", "", actors.EndMissingAddress, "Missing initiator and/or destination tags"},
		{"blank destination", "100", " \t", actors.EndMissingAddress, "Missing initiator and/or destination tags"},
		{"too long", long, "200", actors.EndInvalidValue, "Initiator too long (more than 1024 bytes)"},
		{"not UTF-8", "100", "2\xff", actors.EndInvalidValue, "Destination is not valid UTF-8"},
		{"control character", "1\x002", "200", actors.EndInvalidValue, "Initiator contains control characters"},
		{"no rule", "100", "bob", actors.EndNoTranslationRule, "No translation rule for bob"},
		{"invalid URI", "bad", "200", actors.EndInvalidURI, "Invalid URI format sip:bad uri"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, p := in.Check(Raw{Initiator: tc.initiator, Destination: tc.destination, Origin: "api"})
			if p == nil || p.Ending != tc.ending || p.Text != tc.text {
				t.Fatalf("got %+v, want %v %q", p, tc.ending, tc.text)
			}
			if p.Ending.HTTPStatus() != 400 || p.Ending.XMLCode() != 400 {
				t.Errorf("%v answers HTTP %d, XML %d; want 400 on both", p.Ending, p.Ending.HTTPStatus(), p.Ending.XMLCode())
			}
		})
	}
}

func TestCheckTrimsAndTranslates(t *testing.T) {
	req, p := testIntake(t).Check(Raw{Initiator: " 100\n", Destination: "sip:bob@x", Anchor: true, Origin: "xml", ClientIP: "192.0.2.1"})
	if p != nil {
		t.Fatal(p)
	}
	want := actors.CallRequest{Initiator: "sip:100@gateway.example.com", Destination: "sip:bob@x", Anchor: true, Origin: "xml", ClientIP: "192.0.2.1"}
	if !reflect.DeepEqual(req, want) {
		t.Errorf("got %+v, want %+v", req, want)
	}
}

func TestRefusedCarriesTheEnginesEndingOrStartFailed(t *testing.T) {
	p := Refused(&actors.Refusal{Ending: actors.EndMaxPerSecondPerIP, Text: "Call rate limit reached for this client", RetryAfter: 2})
	if p.Ending != actors.EndMaxPerSecondPerIP || p.Text != "Call rate limit reached for this client" || p.RetryAfter != 2 {
		t.Errorf("refusal became %+v", p)
	}
	if p.Ending.HTTPStatus() != 429 || p.Ending.XMLCode() != 503 {
		t.Errorf("per-client rate limit answers HTTP %d, XML %d; want 429 and 503", p.Ending.HTTPStatus(), p.Ending.XMLCode())
	}
	if p := Refused(errString("boom")); p.Ending != actors.EndStartFailed || p.Text != "The call could not be started" {
		t.Errorf("a failure to start became %+v", p)
	}
}

type errString string

func (e errString) Error() string { return string(e) }
