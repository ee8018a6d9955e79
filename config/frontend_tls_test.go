package config

import (
	"crypto/tls"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/clicktocall/clicktocall/internal/testpki"
)

func TestFrontendTLSSettingsComeInPairs(t *testing.T) {
	for _, tc := range []struct {
		name, src string
		err       string // "" = loads
		check     func(t *testing.T, c *Config)
	}{
		{name: "both set", src: `http {
  tls_cert_file = " h.crt "
  tls_key_file  = "h.key"
}
xml {
  tls_cert_file = "x.crt"
  tls_key_file  = "x.key"
}`, check: func(t *testing.T, c *Config) {
			if c.HTTP.TLSCertFile != "h.crt" || c.HTTP.TLSKeyFile != "h.key" || c.XML.TLSCertFile != "x.crt" || c.XML.TLSKeyFile != "x.key" {
				t.Errorf("http %+v xml %+v", c.HTTP, c.XML)
			}
		}},
		{name: "both empty is plain", src: "http {\n  tls_cert_file = \"\"\n  tls_key_file = \"\"\n}", check: func(t *testing.T, c *Config) {
			if c.HTTP.TLSCertFile != "" || c.HTTP.TLSKeyFile != "" {
				t.Errorf("%+v", c.HTTP)
			}
		}},
		{name: "http cert without key", src: "http {\n  port = 5090\n  tls_cert_file = \"h.crt\"\n}",
			err: "t.hcl:3: Invalid value for http.tls_cert_file: http.tls_cert_file needs http.tls_key_file too"},
		{name: "http key without cert", src: "http {\n  tls_key_file = \"h.key\"\n}",
			err: "t.hcl:2: Invalid value for http.tls_key_file: http.tls_key_file needs http.tls_cert_file too"},
		{name: "xml cert without key", src: "xml {\n  tls_cert_file = \"x.crt\"\n}",
			err: "t.hcl:2: Invalid value for xml.tls_cert_file: xml.tls_cert_file needs xml.tls_key_file too"},
		{name: "xml key without cert", src: "\nxml {\n  port = 5094\n  tls_key_file = \"x.key\"\n}",
			err: "t.hcl:4: Invalid value for xml.tls_key_file"},
		{name: "spaces alone are empty", src: "xml {\n  tls_cert_file = \"x.crt\"\n  tls_key_file = \"  \"\n}",
			err: "t.hcl:2: Invalid value for xml.tls_cert_file"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := Parse([]byte(tc.src), "t.hcl")
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err = %v, want one containing %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			tc.check(t, cfg)
		})
	}
	if d := Default(); d.HTTP.TLSCertFile != "" || d.XML.TLSCertFile != "" {
		t.Errorf("front ends must be plain by default: http %q xml %q", d.HTTP.TLSCertFile, d.XML.TLSCertFile)
	}
}

func TestFrontendTLSSettingsAreShown(t *testing.T) {
	cfg, err := Parse([]byte("http {\n  tls_cert_file = \"h.crt\"\n  tls_key_file = \"h.key\"\n}"), "t.hcl")
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, s := range cfg.Settings() {
		got[s.Key] = s.Value
	}
	for key, want := range map[string]string{
		"http.tls_cert_file": `"h.crt"`, "http.tls_key_file": `"h.key"`,
		"xml.tls_cert_file": `""`, "xml.tls_key_file": `""`,
	} {
		if got[key] != want {
			t.Errorf("%s = %s, want %s", key, got[key], want)
		}
	}
}

func TestFrontendServerTLSLoadsAValidPair(t *testing.T) {
	ca := testpki.NewCA(t)
	_, certFile, keyFile := ca.Issue(t, "127.0.0.1")
	_, otherCert, _ := ca.Issue(t, "127.0.0.1")
	garbage := filepath.Join(t.TempDir(), "garbage.pem")
	if err := os.WriteFile(garbage, []byte("not a certificate"), 0o600); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(t.TempDir(), "missing.pem")

	for _, load := range []struct {
		block string
		tls   func(cert, key string) (*tls.Config, error)
	}{
		{"http", func(c, k string) (*tls.Config, error) { return HTTP{TLSCertFile: c, TLSKeyFile: k}.ServerTLS() }},
		{"xml", func(c, k string) (*tls.Config, error) { return XML{TLSCertFile: c, TLSKeyFile: k}.ServerTLS() }},
	} {
		t.Run(load.block, func(t *testing.T) {
			if c, err := load.tls("", ""); c != nil || err != nil {
				t.Errorf("no files: %v, %v; want plain (nil, nil)", c, err)
			}
			c, err := load.tls(certFile, keyFile)
			if err != nil {
				t.Fatal(err)
			}
			if len(c.Certificates) != 1 || c.MinVersion != tls.VersionTLS12 {
				t.Errorf("certificates %d, min version %x; want 1 and TLS 1.2", len(c.Certificates), c.MinVersion)
			}
			for _, bad := range []struct{ name, cert, key, want string }{
				{"missing certificate", missing, keyFile, "missing.pem"},
				{"missing key", certFile, missing, "missing.pem"},
				{"not PEM", garbage, keyFile, "garbage.pem"},
				{"key of another certificate", otherCert, keyFile, "private key does not match public key"},
				{"only one", certFile, "", "must both be set"},
			} {
				_, err := load.tls(bad.cert, bad.key)
				if err == nil || !strings.Contains(err.Error(), bad.want) || !strings.Contains(err.Error(), load.block+".tls_") {
					t.Errorf("%s: err = %v; want one naming %s.tls_* and %q", bad.name, err, load.block, bad.want)
				}
			}
		})
	}
}
