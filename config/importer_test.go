package config

import (
	"reflect"
	"strings"
	"testing"
	"time"
)

// originalSample is an original clicktocall.config using every setting the
// seed manual lists, in its styles: mixed case names, quotes, spaces, comments.
const originalSample = `# clicktocall.config from the original server
IPAddress =
DNSServers = 192.0.2.53, 198.51.100.53:5353
ClickToCallIdentity = sip:clicktocall@sipdomain.com
udptcpport = 5080
TLSPort = 5081
TLSDomainName = "cc.sipdomain.com"
KeepAlives = 0
OutboundProxy = sip:proxy.sipdomain.com;lr
   LogLevel = debug   
LogFilename = "cc.log"
LogFileMaxLines = 1000
XmlRpcPort = 6094
HttpPort = 6090
HttpAuth = 1
HttpAuthPwd = "pa\"ss${word}%{x}\back"
ObsoleteSetting = 7

# Rules
TranslationPattern="^(\d+)$"
TranslationOutput=sip:$1@gateway.com
TranslationPattern = (.*)$
TranslationOutput = sip:$1@sipdomain.com
`

func TestImportOriginalKeepsTheMeaning(t *testing.T) {
	out, warnings, err := ImportOriginal([]byte(originalSample), "clicktocall.config")
	if err != nil {
		t.Fatal(err)
	}
	if len(warnings) != 1 || !strings.Contains(warnings[0], "clicktocall.config:17:") || !strings.Contains(warnings[0], "ObsoleteSetting") {
		t.Errorf("warnings = %q", warnings)
	}
	cfg, err := Parse(out, "imported.hcl")
	if err != nil {
		t.Fatalf("Parse of the import: %v\n%s", err, out)
	}
	want := Default()
	want.File = "imported.hcl"
	want.SIP.DNSServers = []string{"192.0.2.53:53", "198.51.100.53:5353"}
	want.SIP.Identity = "sip:clicktocall@sipdomain.com"
	want.SIP.UDPTCPPort = 5080
	want.SIP.TLSPort = 5081
	want.SIP.TLSDomain = "cc.sipdomain.com"
	// The seed keeps the domain's certificate and key in the working directory.
	want.SIP.TLSCertFile = "domain_cert_cc.sipdomain.com.pem"
	want.SIP.TLSKeyFile = "domain_key_cc.sipdomain.com.pem"
	want.SIP.KeepAlives = false
	want.SIP.OutboundProxy = "sip:proxy.sipdomain.com;lr"
	want.Log = Log{Level: "DEBUG", File: "cc.log", MaxLines: 1000}
	want.XML.Port = 6094
	want.HTTP.Port = 6090
	want.HTTP.Auth = true
	want.HTTP.Password = `pa\"ss${word}%{x}\back`
	got := *cfg
	got.Translation = nil
	if !reflect.DeepEqual(&got, want) {
		t.Errorf("imported config differs:\n got %+v\nwant %+v\n%s", got, *want, out)
	}
	if len(cfg.Translation) != 2 {
		t.Fatalf("rules = %d\n%s", len(cfg.Translation), out)
	}
	for in, want := range map[string]string{"9055551234": "sip:9055551234@gateway.com", "bob": "sip:bob@sipdomain.com"} {
		if got, err := Translate(cfg.Translation, in); err != nil || got != want {
			t.Errorf("Translate(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	if want := time.Duration(0); cfg.SIP.MaxCallDuration != want {
		t.Errorf("unset settings must keep defaults")
	}
}

func TestImportOriginalErrorsNameTheLine(t *testing.T) {
	cases := []struct{ name, src, want string }{
		{"output without pattern", "HttpPort = 1\nTranslationOutput = sip:x@y\n", "orig:2: TranslationOutput without"},
		{"pattern without output", "TranslationPattern = .*\n\n", "orig:1: TranslationPattern has no"},
		{"two patterns", "TranslationPattern = a\nTranslationPattern = b\nTranslationOutput = sip:b@c\n", "orig:2: TranslationPattern follows"},
		{"not a number", "# c\nUDPTCPPort = five\n", "orig:2: UDPTCPPort"},
		{"not a flag", "HttpAuth = maybe\n", "orig:1: HttpAuth"},
		{"no equals", "HttpPort 5090\n", "orig:1: expected Name = value"},
		{"bad utf-8", "TLSDomainName = \xff\n", "orig:1: not valid UTF-8"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := ImportOriginal([]byte(tc.src), "orig")
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want %q", err, tc.want)
			}
		})
	}
}

func TestHCLQuoteRoundTrips(t *testing.T) {
	for _, s := range []string{`plain`, `a"b`, `back\slash`, "${x}", "$${x}", "%{if}", "%%{x}", "tab\there", "\x01ctl", "€uro", "$", "%", "${", "end$"} {
		cfg, err := Parse([]byte("sip {\n  tls_domain = "+hclQuote(s)+"\n}\n"), "q.hcl")
		if err != nil {
			t.Errorf("hclQuote(%q) = %s: %v", s, hclQuote(s), err)
			continue
		}
		if want := strings.TrimSpace(s); cfg.SIP.TLSDomain != want {
			t.Errorf("hclQuote(%q) = %s reads back as %q", s, hclQuote(s), cfg.SIP.TLSDomain)
		}
	}
}
