package config

import (
	"strings"
	"testing"
	"time"
)

func TestSIPTLSSettings(t *testing.T) {
	for _, tc := range []struct {
		name, src string
		err       string // "" = loads
		check     func(t *testing.T, s SIP)
	}{
		{name: "files given", src: `sip {
  tls_port      = 5073
  tls_cert_file = "c.pem"
  tls_key_file  = "k.pem"
  tls_ca_file   = "ca.pem"
}`, check: func(t *testing.T, s SIP) {
			if s.TLSPort != 5073 || s.TLSCertFile != "c.pem" || s.TLSKeyFile != "k.pem" || s.TLSCAFile != "ca.pem" {
				t.Errorf("%+v", s)
			}
		}},
		{name: "files named for the domain", src: `sip {
  tls_port   = 5073
  tls_domain = "sip.example.com"
}`, check: func(t *testing.T, s SIP) {
			if s.TLSCertFile != "domain_cert_sip.example.com.pem" || s.TLSKeyFile != "domain_key_sip.example.com.pem" {
				t.Errorf("cert %q key %q", s.TLSCertFile, s.TLSKeyFile)
			}
		}},
		{name: "no certificate", src: "sip {\n  tls_port = 5073\n}", err: "t.hcl:2: Invalid value for sip.tls_port"},
		{name: "same port as udp/tcp", src: `sip {
  udp_tcp_port  = 5072
  tls_port      = 5072
  tls_cert_file = "c.pem"
  tls_key_file  = "k.pem"
}`, err: "TLS needs a TCP port of its own"},
		{name: "off needs nothing", src: "sip {\n  tls_port = 0\n}", check: func(t *testing.T, s SIP) {
			if s.TLSCertFile != "" {
				t.Errorf("cert %q", s.TLSCertFile)
			}
		}},
		{name: "keepalive interval", src: "sip {\n  keepalive_interval = \"15s\"\n}", check: func(t *testing.T, s SIP) {
			if s.KeepAliveInterval != 15*time.Second || !s.KeepAlives {
				t.Errorf("interval %v keepalives %v", s.KeepAliveInterval, s.KeepAlives)
			}
		}},
		{name: "keepalive interval zero", src: "sip {\n  keepalive_interval = \"0s\"\n}", err: "sip.keepalive_interval"},
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
			tc.check(t, cfg.SIP)
		})
	}
	if d := Default().SIP; d.KeepAliveInterval != 30*time.Second || !d.KeepAlives {
		t.Errorf("keepalive defaults drifted: %v %v", d.KeepAlives, d.KeepAliveInterval)
	}
}
