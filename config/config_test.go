package config

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestShippedConfigLoadsWithDefaultsAndExampleRules(t *testing.T) {
	cfg, err := Load("../config.hcl")
	if err != nil {
		t.Fatalf("shipped config.hcl: %v", err)
	}
	want := Default()
	want.File = "../config.hcl"
	got := *cfg
	got.Translation = nil
	if !reflect.DeepEqual(&got, want) {
		t.Errorf("shipped config.hcl differs from Default():\n got %+v\nwant %+v", got, *want)
	}
	cases := map[string]string{
		"9055551234":            "sip:9055551234@example.com",
		"sip:alice@example.org": "sip:alice@example.org",
		"sips:bob@example.org":  "sips:bob@example.org",
		"carol@example.net":     "sip:carol@example.net",
	}
	for in, want := range cases {
		if got, err := Translate(cfg.Translation, in); err != nil || got != want {
			t.Errorf("Translate(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
}

func TestShippedConfigDocumentsEverySetting(t *testing.T) {
	src, err := os.ReadFile("../config.hcl")
	if err != nil {
		t.Fatal(err)
	}
	settings := map[string]bool{}
	for _, s := range Default().Settings() {
		settings[s.Key] = true
	}
	for block, names := range keys() {
		if block == "translation" {
			continue
		}
		for _, name := range names {
			if !strings.Contains(string(src), "\n  "+name+" ") && !strings.Contains(string(src), "\n"+name+" ") {
				t.Errorf("config.hcl does not show %s.%s", block, name)
			}
			key := name
			if block != "" {
				key = block + "." + name
			}
			if !settings[key] {
				t.Errorf("Settings() does not list %s", key)
			}
		}
	}
}

func TestEmptyFileGivesDefaults(t *testing.T) {
	cfg, err := Parse(nil, "empty.hcl")
	if err != nil {
		t.Fatal(err)
	}
	want := Default()
	want.File = "empty.hcl"
	if !reflect.DeepEqual(cfg, want) {
		t.Errorf("got %+v\nwant %+v", cfg, want)
	}
	d := Default()
	if d.SIP.UDPTCPPort != 5072 || d.SIP.TLSPort != 0 || d.HTTP.Port != 5090 || d.XML.Port != 5094 ||
		d.SIP.RingTimeout != 60*time.Second || d.SIP.ReferTimeout != 32*time.Second ||
		d.Log.Level != "INFO" || d.Log.MaxLines != 50000 || d.Limits.MaxActiveCalls != 20000 ||
		d.ShutdownTimeout != 10*time.Second || d.MemoryLimit != 0 || d.HTTP.AuthScheme != "digest" || !d.SIP.KeepAlives {
		t.Errorf("defaults drifted from the documented values: %+v", d)
	}
}

func TestValuesAreTrimmedAndNormalised(t *testing.T) {
	src := `
sip {
  identity         = "  sip:cc@example.com  "
  dns_servers      = [" 192.0.2.1 ", "[2001:db8::1]:5353", "192.0.2.2:54"]
  destination_from = " Identity "
  ring_timeout     = "1m30s"
  outbound_proxy   = "sips:proxy.example.com:5061;transport=tls"
}
http {
  auth        = true
  password    = " secret "
  auth_scheme = "BASIC"
}
log {
  level = "debug"
  file  = ""
}
`
	cfg, err := Parse([]byte(src), "t.hcl")
	if err != nil {
		t.Fatal(err)
	}
	if cfg.SIP.Identity != "sip:cc@example.com" {
		t.Errorf("identity = %q", cfg.SIP.Identity)
	}
	if want := []string{"192.0.2.1:53", "[2001:db8::1]:5353", "192.0.2.2:54"}; !reflect.DeepEqual(cfg.SIP.DNSServers, want) {
		t.Errorf("dns_servers = %q, want %q", cfg.SIP.DNSServers, want)
	}
	if cfg.SIP.DestinationFrom != DestinationFromIdentity || cfg.HTTP.AuthScheme != AuthSchemeBasic {
		t.Errorf("destination_from = %q, auth_scheme = %q", cfg.SIP.DestinationFrom, cfg.HTTP.AuthScheme)
	}
	if cfg.SIP.RingTimeout != 90*time.Second || cfg.HTTP.Password != "secret" || cfg.Log.Level != "DEBUG" || cfg.Log.File != "" {
		t.Errorf("got %+v %+v %+v", cfg.SIP, cfg.HTTP, cfg.Log)
	}
}

func TestMemoryLimitTakesSizesWithOrWithoutUnits(t *testing.T) {
	cases := []struct {
		value string // as written in the file
		want  int64
		shown string // by Settings
	}{
		{`"0"`, 0, `"0"`},
		{`0`, 0, `"0"`},
		{`"512MiB"`, 512 << 20, `"512MiB"`},
		{`"2GiB"`, 2 << 30, `"2GiB"`},
		{`" 2 gib "`, 2 << 30, `"2GiB"`},
		{`"1.5GiB"`, 1536 << 20, `"1536MiB"`},
		{`"1500MB"`, 1_500_000_000, `"1500000000"`},
		{`"1500kB"`, 1_500_000, `"1500000"`},
		{`"2048KiB"`, 2 << 20, `"2MiB"`},
		{`"1TiB"`, 1 << 40, `"1TiB"`},
		{`"536870912"`, 512 << 20, `"512MiB"`},
		{`536870912`, 512 << 20, `"512MiB"`},
		{`"1048576B"`, 1 << 20, `"1MiB"`},
		{`env("CLICKTOCALL_TEST_UNSET_LIMIT", "3GiB")`, 3 << 30, `"3GiB"`},
	}
	for _, c := range cases {
		cfg, err := Parse([]byte("memory_limit = "+c.value+"\n"), "mem.hcl")
		if err != nil {
			t.Errorf("memory_limit = %s: %v", c.value, err)
			continue
		}
		if cfg.MemoryLimit != c.want {
			t.Errorf("memory_limit = %s: %d bytes, want %d", c.value, cfg.MemoryLimit, c.want)
		}
		for _, s := range cfg.Settings() {
			if s.Key == "memory_limit" && s.Value != c.shown {
				t.Errorf("memory_limit = %s is shown as %s, want %s", c.value, s.Value, c.shown)
			}
		}
		// What Settings shows reads back as the same limit.
		again, err := Parse([]byte("memory_limit = "+c.shown+"\n"), "again.hcl")
		if err != nil || again.MemoryLimit != c.want {
			t.Errorf("memory_limit = %s (as shown) read back as %d, %v; want %d", c.shown, again.MemoryLimit, err, c.want)
		}
	}
}

func TestErrorsNameFileAndLine(t *testing.T) {
	cases := []struct {
		name, src string
		line      int
		want      string
	}{
		{"misspelt key", "sip {\n  udp_tcp_prot = 5072\n}\n", 2, `Did you mean "udp_tcp_port"?`},
		{"unknown block", "sip {}\n\nsipp {\n}\n", 3, "Unsupported block type"},
		{"unknown top-level key", "\nfoo = 1\n", 2, "Unsupported argument"},
		{"wrong type", "http {\n  port = 5090\n  auth = \"maybe\"\n}\n", 3, "Invalid value for http.auth: Unsuitable value: a bool is required"},
		{"wrong type top level", "shutdown_timeout = [1]\n", 1, "Invalid value for shutdown_timeout"},
		{"fractional port", "sip {\n  udp_tcp_port = 5072.5\n}\n", 2, "sip.udp_tcp_port"},
		{"bad regex", "translation {\n  pattern = \"^(\\\\d+$\"\n  output = \"sip:$1@x\"\n}\ntranslation {\n  pattern = \"(\"\n  output = \"x\"\n}\n", 2, "does not compile"},
		{"bad regex second rule", "translation {\n  pattern = \".*\"\n  output = \"sip:$1@x\"\n}\n\ntranslation {\n  pattern = \"a{2,1}\"\n  output = \"x\"\n}\n", 7, "translation.pattern"},
		{"regex escape HCL rejects", "translation {\n  pattern = \"^(\\d+)$\"\n  output = \"sip:$1@x\"\n}\n", 2, "escape"},
		{"missing output", "translation {\n  pattern = \".*\"\n}\n", 1, "output"},
		{"invalid identity", "sip {\n  keepalives = true\n  identity = \"clicktocall@example.com\"\n}\n", 3, "sip.identity"},
		{"identity tel URI", "sip {\n  identity = \"tel:+15551234\"\n}\n", 2, "not sip or sips"},
		{"identity without host", "sip {\n\n  identity = \"sip:\"\n}\n", 3, "sip.identity"},
		{"outbound proxy", "sip {\n  outbound_proxy = \"http://proxy\"\n}\n", 2, "sip.outbound_proxy"},
		{"port out of range", "xml {\n  port = 65536\n}\n", 2, "out of range 0..65535"},
		{"udp port zero", "sip {\n  identity = \"sip:a@b\"\n  udp_tcp_port = 0\n}\n", 3, "out of range 1..65535"},
		{"negative http port", "http {\n  port = -1\n}\n", 2, "http.port"},
		{"bad dns server", "sip {\n  dns_servers = [\n    \"192.0.2.1\",\n    \"dns.example.com\",\n  ]\n}\n", 2, `"dns.example.com" is not an IP address`},
		{"unknown log level", "log {\n  file = \"x.log\"\n  level = \"VERBOSE\"\n}\n", 3, `"VERBOSE" is not one of NONE, CRIT, ERR, WARNING, INFO, DEBUG, STACK`},
		{"destination_from", "sip {\n  destination_from = \"caller\"\n}\n", 2, "initiator, identity"},
		{"auth_scheme", "http {\n  auth_scheme = \"ntlm\"\n}\n", 2, "digest, basic"},
		{"bad duration", "sip {\n  ring_timeout = \"60\"\n}\n", 2, "not a duration"},
		{"negative duration", "\nshutdown_timeout = \"-1s\"\n", 2, "negative"},
		{"memory limit without unit", "\n\nmemory_limit = \"512\"\n", 3, `"512" is 512 bytes, below the least limit of 1MiB`},
		{"memory limit unknown unit", "memory_limit = \"2 gigs\"\n", 1, `Invalid value for memory_limit: "2 gigs" is not a size`},
		{"memory limit negative", "shutdown_timeout = \"5s\"\nmemory_limit = \"-1GiB\"\n", 2, "is not a size"},
		{"memory limit fraction of a byte", "memory_limit = \"1.5\"\n", 1, "is not a size"},
		{"memory limit too large", "memory_limit = \"9000000TiB\"\n", 1, "too large"},
		{"memory limit wrong type", "memory_limit = [1]\n", 1, "Invalid value for memory_limit"},
		{"negative size", "xml {\n  max_request_size = -5\n}\n", 2, "positive"},
		{"negative limit", "limits {\n  max_active_calls = -1\n}\n", 2, "negative"},
		{"lag target without unit", "limits {\n  overload_lag_target = \"50\"\n}\n", 2, "limits.overload_lag_target"},
		{"queue timeout too long", "limits {\n\n  queue_timeout = \"2m\"\n}\n", 3, `"2m" is longer than 1m`},
		{"negative max_lines", "log {\n  max_lines = -1\n}\n", 2, "log.max_lines"},
		{"bind address", "http {\n  address = \"localhost\"\n}\n", 2, "not an IP address"},
		{"auth without password", "http {\n  auth = true\n}\n", 2, "password"},
		{"duplicate block", "log {}\nlog {}\n", 2, "Duplicate log block"},
		{"env without default", "http {\n  password = env(\"CLICKTOCALL_TEST_SURELY_UNSET\")\n}\n", 2, "CLICKTOCALL_TEST_SURELY_UNSET is not set"},
		{"syntax error", "sip {\n  identity = \n}\n", 2, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse([]byte(tc.src), "bad.hcl")
			if err == nil {
				t.Fatal("Parse accepted it")
			}
			var cerr *Error
			if !errors.As(err, &cerr) {
				t.Errorf("error is %T, want *config.Error", err)
			}
			msg := err.Error()
			prefix := "bad.hcl:" + strconv.Itoa(tc.line) + ":"
			if !strings.HasPrefix(msg, prefix) {
				t.Errorf("error %q does not start with %q", msg, prefix)
			}
			if !strings.Contains(msg, tc.want) {
				t.Errorf("error %q does not mention %q", msg, tc.want)
			}
		})
	}
}

func TestLoadNamesTheFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "my.hcl")
	if err := os.WriteFile(path, []byte("\n\nsip {\n  tls_port = 70000\n}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := Load(path)
	if err == nil || !strings.HasPrefix(err.Error(), path+":4:") {
		t.Errorf("Load error = %v, want it to start with %s:4:", err, path)
	}
	if _, err := Load(filepath.Join(t.TempDir(), "missing.hcl")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: %v", err)
	}
}

func TestAllErrorsAreReported(t *testing.T) {
	_, err := Parse([]byte("sip {\n  udp_tcp_port = 0\n}\nhttp {\n  port = 99999\n}\n"), "two.hcl")
	if err == nil {
		t.Fatal("accepted")
	}
	if !strings.Contains(err.Error(), "two.hcl:2:") || !strings.Contains(err.Error(), "two.hcl:5:") {
		t.Errorf("want both lines in %q", err)
	}
}

func TestEnvFunctionReadsSecretsFromTheEnvironment(t *testing.T) {
	t.Setenv("CLICKTOCALL_TEST_PWD", "  s3cret ")
	src := `
http {
  auth     = true
  password = env("CLICKTOCALL_TEST_PWD")
}
sip {
  auth_password = env("CLICKTOCALL_TEST_UNSET_VAR", "fallback")
  udp_tcp_port  = env("CLICKTOCALL_TEST_UNSET_PORT", "5080")
}
`
	cfg, err := Parse([]byte(src), "env.hcl")
	if err != nil {
		t.Fatal(err)
	}
	if cfg.HTTP.Password != "s3cret" || cfg.SIP.AuthPassword != "fallback" || cfg.SIP.UDPTCPPort != 5080 {
		t.Errorf("password %q, auth_password %q, port %d", cfg.HTTP.Password, cfg.SIP.AuthPassword, cfg.SIP.UDPTCPPort)
	}
	for _, s := range cfg.Settings() {
		if strings.Contains(s.Value, "s3cret") || strings.Contains(s.Value, "fallback") {
			t.Errorf("Settings shows a secret: %s = %s", s.Key, s.Value)
		}
	}
}

func TestDocsDocumentEverySetting(t *testing.T) {
	src, err := os.ReadFile("../docs/configuration.md")
	if err != nil {
		t.Fatal(err)
	}
	for block, names := range keys() {
		for _, name := range names {
			if !strings.Contains(string(src), "| `"+name+"` |") {
				t.Errorf("docs/configuration.md has no table row for %s.%s", block, name)
			}
		}
	}
}

func TestClusterBlock(t *testing.T) {
	cfg, err := Parse([]byte("cluster {\n  name = \"ctc-test\"\n  address = \"127.0.0.1:6001\"\n  etcd_endpoints = [\"127.0.0.1:2379\", \"10.0.0.2:2379\"]\n}\n"), "c.hcl")
	if err != nil {
		t.Fatal(err)
	}
	c := cfg.Cluster
	if !c.Enabled || c.Name != "ctc-test" || c.Address != "127.0.0.1:6001" || c.Provider != "etcd" ||
		len(c.EtcdEndpoints) != 2 || c.RequestTimeout != 2*time.Second {
		t.Errorf("cluster = %+v", c)
	}
	if Default().Cluster.Enabled {
		t.Error("the cluster is on by default")
	}
	for src, want := range map[string]string{
		"cluster {\n  name = \"a\"\n}\n":                                        "c.hcl:1: Invalid value for cluster.address",
		"cluster {\n  address = \"0.0.0.0:6001\"\n}\n":                          "c.hcl:2: Invalid value for cluster.address",
		"cluster {\n  address = \"127.0.0.1\"\n}\n":                             "c.hcl:2: Invalid value for cluster.address",
		"cluster {\n  address = \"h:6001\"\n  name = \"a b\"\n}\n":              "c.hcl:3: Invalid value for cluster.name",
		"cluster {\n  address = \"h:6001\"\n  provider = \"consul\"\n}\n":       "c.hcl:3: Invalid value for cluster.provider",
		"cluster {\n  address = \"h:6001\"\n  etcd_endpoints = [\"etcd\"]\n}\n": "c.hcl:3: Invalid value for cluster.etcd_endpoints",
		"cluster {\n  address = \"h:6001\"\n  etcd_endpoints = []\n}\n":         "c.hcl:3: Invalid value for cluster.etcd_endpoints",
		"cluster {\n  address = \"h:6001\"\n  request_timeout = \"0s\"\n}\n":    "c.hcl:3: Invalid value for cluster.request_timeout",
	} {
		_, err := Parse([]byte(src), "c.hcl")
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: got %v, want %q", src, err, want)
		}
	}
	// A block turned off is not checked for what only a cluster needs.
	if cfg, err := Parse([]byte("cluster {\n  enabled = false\n}\n"), "c.hcl"); err != nil || cfg.Cluster.Enabled {
		t.Errorf("enabled = false: %v, %+v", err, cfg)
	}
}

func TestOrDefaultFillsOnlyUnsetValues(t *testing.T) {
	if got := OrDefault(0, 7); got != 7 {
		t.Errorf("OrDefault(0, 7) = %d", got)
	}
	if got := OrDefault(-1*time.Second, time.Minute); got != time.Minute {
		t.Errorf("OrDefault(-1s, 1m) = %v", got)
	}
	if got := OrDefault(3, 7); got != 3 {
		t.Errorf("OrDefault(3, 7) = %d", got)
	}
}
