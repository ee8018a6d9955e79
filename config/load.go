package config

import (
	"fmt"
	"net"
	"net/netip"
	"os"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/gohcl"
	"github.com/hashicorp/hcl/v2/hclparse"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/function"
)

// Error is a configuration that cannot be used. It lists every problem found,
// one per line, each starting with file:line.
type Error struct {
	Diags hcl.Diagnostics
}

func (e *Error) Error() string {
	lines := make([]string, 0, len(e.Diags))
	for _, d := range e.Diags {
		if d.Severity != hcl.DiagError {
			continue
		}
		where := "?"
		if d.Subject != nil {
			where = fmt.Sprintf("%s:%d", d.Subject.Filename, d.Subject.Start.Line)
		}
		msg := d.Summary
		if d.Detail != "" {
			msg += ": " + d.Detail
		}
		lines = append(lines, where+": "+msg)
	}
	return strings.Join(lines, "\n")
}

// Load reads and checks the HCL configuration file at path.
func Load(path string) (*Config, error) {
	src, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read config: %w", err)
	}
	return Parse(src, path)
}

// Parse checks src, an HCL configuration named filename (for messages), and
// returns the effective settings: Default() overlaid with what src sets. Any
// problem is an *Error naming filename:line.
func Parse(src []byte, filename string) (*Config, error) {
	file, diags := hclparse.NewParser().ParseHCL(src, filename)
	if diags.HasErrors() {
		return nil, &Error{Diags: diags}
	}
	var raw fileBlock
	diags = gohcl.DecodeBody(file.Body, evalContext, &raw)
	if diags.HasErrors() {
		nameAttributes(file.Body, diags)
		// A partly decoded file would only add misleading follow-on errors.
		return nil, &Error{Diags: diags}
	}
	cfg := Default()
	cfg.File = filename
	c := &converter{}
	c.convert(&raw, cfg)
	if c.diags.HasErrors() {
		return nil, &Error{Diags: c.diags}
	}
	return cfg, nil
}

// nameAttributes says which setting a type error is about: gohcl's
// "Unsuitable value type" gives only the value's position.
func nameAttributes(body hcl.Body, diags hcl.Diagnostics) {
	sb, ok := body.(*hclsyntax.Body)
	if !ok {
		return
	}
	names := map[hcl.Range]string{}
	for name, a := range sb.Attributes {
		names[a.Expr.Range()] = name
	}
	for _, b := range sb.Blocks {
		for name, a := range b.Body.Attributes {
			names[a.Expr.Range()] = b.Type + "." + name
		}
	}
	for _, d := range diags {
		if d.Summary == "Unsuitable value type" && d.Context != nil {
			if name, ok := names[*d.Context]; ok {
				d.Summary = "Invalid value for " + name
			}
		}
	}
}

// The intermediate structs mirror config.hcl. Every attribute is optional (a
// nil pointer keeps the default); Body is kept to find an attribute's line.
type fileBlock struct {
	SIP             *sipBlock          `hcl:"sip,block"`
	HTTP            *httpBlock         `hcl:"http,block"`
	XML             *xmlBlock          `hcl:"xml,block"`
	Log             *logBlock          `hcl:"log,block"`
	Limits          *limitsBlock       `hcl:"limits,block"`
	API             *apiBlock          `hcl:"api,block"`
	CDR             *cdrBlock          `hcl:"cdr,block"`
	Cluster         *clusterBlock      `hcl:"cluster,block"`
	Translation     []translationBlock `hcl:"translation,block"`
	ShutdownTimeout *string            `hcl:"shutdown_timeout,optional"`
	MemoryLimit     *string            `hcl:"memory_limit,optional"`
	Body            hcl.Body           `hcl:",body"`
}

type sipBlock struct {
	IPAddress         *string   `hcl:"ip_address,optional"`
	DNSServers        *[]string `hcl:"dns_servers,optional"`
	Identity          *string   `hcl:"identity,optional"`
	UDPTCPPort        *int      `hcl:"udp_tcp_port,optional"`
	TLSPort           *int      `hcl:"tls_port,optional"`
	TLSDomain         *string   `hcl:"tls_domain,optional"`
	TLSCertFile       *string   `hcl:"tls_cert_file,optional"`
	TLSKeyFile        *string   `hcl:"tls_key_file,optional"`
	TLSCAFile         *string   `hcl:"tls_ca_file,optional"`
	KeepAlives        *bool     `hcl:"keepalives,optional"`
	KeepAliveInterval *string   `hcl:"keepalive_interval,optional"`
	OutboundProxy     *string   `hcl:"outbound_proxy,optional"`
	RingTimeout       *string   `hcl:"ring_timeout,optional"`
	ReferTimeout      *string   `hcl:"refer_timeout,optional"`
	DestinationFrom   *string   `hcl:"destination_from,optional"`
	AuthUsername      *string   `hcl:"auth_username,optional"`
	AuthPassword      *string   `hcl:"auth_password,optional"`
	AutoAnswer        *bool     `hcl:"auto_answer,optional"`
	AssertIdentity    *bool     `hcl:"assert_identity,optional"`
	MaxCallDuration   *string   `hcl:"max_call_duration,optional"`
	MaxMessageSize    *int      `hcl:"max_message_size,optional"`
	TransactionLinger *string   `hcl:"transaction_linger,optional"`
	Body              hcl.Body  `hcl:",body"`
}

type httpBlock struct {
	Address        *string  `hcl:"address,optional"`
	Port           *int     `hcl:"port,optional"`
	Auth           *bool    `hcl:"auth,optional"`
	Password       *string  `hcl:"password,optional"`
	AuthScheme     *string  `hcl:"auth_scheme,optional"`
	NonceLifetime  *string  `hcl:"nonce_lifetime,optional"`
	MaxConns       *int     `hcl:"max_connections,optional"`
	MaxConnsPerIP  *int     `hcl:"max_connections_per_ip,optional"`
	ReadTimeout    *string  `hcl:"read_timeout,optional"`
	IdleTimeout    *string  `hcl:"idle_timeout,optional"`
	MaxRequestSize *int     `hcl:"max_request_size,optional"`
	TLSCertFile    *string  `hcl:"tls_cert_file,optional"`
	TLSKeyFile     *string  `hcl:"tls_key_file,optional"`
	Body           hcl.Body `hcl:",body"`
}

type xmlBlock struct {
	Address        *string  `hcl:"address,optional"`
	Port           *int     `hcl:"port,optional"`
	MaxRequestSize *int     `hcl:"max_request_size,optional"`
	MaxConns       *int     `hcl:"max_connections,optional"`
	MaxConnsPerIP  *int     `hcl:"max_connections_per_ip,optional"`
	IdleTimeout    *string  `hcl:"idle_timeout,optional"`
	ReadTimeout    *string  `hcl:"read_timeout,optional"`
	TLSCertFile    *string  `hcl:"tls_cert_file,optional"`
	TLSKeyFile     *string  `hcl:"tls_key_file,optional"`
	Body           hcl.Body `hcl:",body"`
}

type logBlock struct {
	Level    *string  `hcl:"level,optional"`
	File     *string  `hcl:"file,optional"`
	MaxLines *int     `hcl:"max_lines,optional"`
	Body     hcl.Body `hcl:",body"`
}

type limitsBlock struct {
	MaxActiveCalls         *int     `hcl:"max_active_calls,optional"`
	MaxCallsPerSecond      *int     `hcl:"max_calls_per_second,optional"`
	MaxCallsPerSecondPerIP *int     `hcl:"max_calls_per_second_per_ip,optional"`
	MaxCallsPerInitiator   *int     `hcl:"max_calls_per_initiator,optional"`
	OverloadLagTarget      *string  `hcl:"overload_lag_target,optional"`
	QueueTimeout           *string  `hcl:"queue_timeout,optional"`
	Body                   hcl.Body `hcl:",body"`
}

type apiBlock struct {
	StatusCallbackSecret     *string   `hcl:"status_callback_secret,optional"`
	StatusCallbackTimeout    *string   `hcl:"status_callback_timeout,optional"`
	StatusCallbackAttempts   *int      `hcl:"status_callback_attempts,optional"`
	StatusCallbackMaxPending *int      `hcl:"status_callback_max_pending,optional"`
	CallRetention            *string   `hcl:"call_retention,optional"`
	MaxFinishedCalls         *int      `hcl:"max_finished_calls,optional"`
	IdempotencyWindow        *string   `hcl:"idempotency_window,optional"`
	MaxRequestIDs            *int      `hcl:"max_request_ids,optional"`
	EventsHeartbeat          *string   `hcl:"events_heartbeat,optional"`
	MetricsAuth              *bool     `hcl:"metrics_auth,optional"`
	TraceCalls               *int      `hcl:"trace_calls,optional"`
	CallerIDs                *[]string `hcl:"caller_ids,optional"`
	AllowedHeaders           *[]string `hcl:"allowed_headers,optional"`
	MaxRingTimeout           *string   `hcl:"max_ring_timeout,optional"`
	MaxTimeLimit             *string   `hcl:"max_time_limit,optional"`
	Body                     hcl.Body  `hcl:",body"`
}

type cdrBlock struct {
	File     *string  `hcl:"file,optional"`
	MaxLines *int     `hcl:"max_lines,optional"`
	Body     hcl.Body `hcl:",body"`
}

type clusterBlock struct {
	Enabled        *bool     `hcl:"enabled,optional"`
	Name           *string   `hcl:"name,optional"`
	Address        *string   `hcl:"address,optional"`
	Provider       *string   `hcl:"provider,optional"`
	EtcdEndpoints  *[]string `hcl:"etcd_endpoints,optional"`
	RequestTimeout *string   `hcl:"request_timeout,optional"`
	Body           hcl.Body  `hcl:",body"`
}

type translationBlock struct {
	Pattern  string    `hcl:"pattern"`
	Output   string    `hcl:"output"`
	DefRange hcl.Range `hcl:",def_range"`
	Body     hcl.Body  `hcl:",body"`
}

// evalContext offers env() so secrets need not be written in the file.
var evalContext = &hcl.EvalContext{
	Functions: map[string]function.Function{"env": envFunc},
}

// envFunc is env("NAME") or env("NAME", "default"): the environment
// variable's value, else the default; unset without a default is an error so
// a forgotten secret stops the start instead of running with "".
var envFunc = function.New(&function.Spec{
	Description: "The value of an environment variable, or the default when it is unset.",
	Params:      []function.Parameter{{Name: "name", Type: cty.String}},
	VarParam:    &function.Parameter{Name: "default", Type: cty.String},
	Type:        function.StaticReturnType(cty.String),
	Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
		name := args[0].AsString()
		if len(args) > 2 {
			return cty.NilVal, fmt.Errorf("env takes a name and at most one default, got %d arguments", len(args))
		}
		if v, ok := os.LookupEnv(name); ok {
			return cty.StringVal(v), nil
		}
		if len(args) == 2 {
			return args[1], nil
		}
		return cty.NilVal, fmt.Errorf("environment variable %s is not set and no default is given", name)
	},
})

// converter overlays decoded values on the defaults, collecting every
// problem with the line of the attribute at fault.
type converter struct {
	diags hcl.Diagnostics
}

func (c *converter) fail(body hcl.Body, block, name, format string, args ...any) {
	r := attrRange(body, name)
	key := name
	if block != "" {
		key = block + "." + name
	}
	c.diags = append(c.diags, &hcl.Diagnostic{
		Severity: hcl.DiagError,
		Summary:  "Invalid value for " + key,
		Detail:   fmt.Sprintf(format, args...),
		Subject:  &r,
	})
}

// attrRange finds where attribute name is written in body, falling back to
// the body itself when it is not (or the body is not native HCL syntax).
func attrRange(body hcl.Body, name string) hcl.Range {
	if sb, ok := body.(*hclsyntax.Body); ok {
		if a, ok := sb.Attributes[name]; ok {
			return a.SrcRange
		}
		return sb.SrcRange
	}
	if body != nil {
		return body.MissingItemRange()
	}
	return hcl.Range{}
}

func (c *converter) convert(raw *fileBlock, cfg *Config) {
	if b := raw.SIP; b != nil {
		c.sip(b, &cfg.SIP)
	}
	if b := raw.HTTP; b != nil {
		c.http(b, &cfg.HTTP)
	}
	if b := raw.XML; b != nil {
		c.xml(b, &cfg.XML)
	}
	if b := raw.Log; b != nil {
		c.log(b, &cfg.Log)
	}
	if b := raw.Limits; b != nil {
		f := fieldSet{c, b.Body, "limits"}
		f.count("max_active_calls", b.MaxActiveCalls, &cfg.Limits.MaxActiveCalls)
		f.count("max_calls_per_second", b.MaxCallsPerSecond, &cfg.Limits.MaxCallsPerSecond)
		f.count("max_calls_per_second_per_ip", b.MaxCallsPerSecondPerIP, &cfg.Limits.MaxCallsPerSecondPerIP)
		f.count("max_calls_per_initiator", b.MaxCallsPerInitiator, &cfg.Limits.MaxCallsPerInitiator)
		f.duration("overload_lag_target", b.OverloadLagTarget, &cfg.Limits.OverloadLagTarget)
		f.durationAtMost("queue_timeout", b.QueueTimeout, &cfg.Limits.QueueTimeout, maxQueueTimeout)
	}
	if b := raw.API; b != nil {
		c.api(b, &cfg.API)
	}
	if b := raw.CDR; b != nil {
		f := fieldSet{c, b.Body, "cdr"}
		f.str("file", b.File, &cfg.CDR.File)
		f.count("max_lines", b.MaxLines, &cfg.CDR.MaxLines)
	}
	if b := raw.Cluster; b != nil {
		c.cluster(b, &cfg.Cluster)
	}
	top := fieldSet{c, raw.Body, ""}
	top.duration("shutdown_timeout", raw.ShutdownTimeout, &cfg.ShutdownTimeout)
	top.memoryLimit("memory_limit", raw.MemoryLimit, &cfg.MemoryLimit)
	for _, t := range raw.Translation {
		if r, ok := c.rule(t); ok {
			cfg.Translation = append(cfg.Translation, r)
		}
	}
}

func (c *converter) sip(b *sipBlock, s *SIP) {
	f := fieldSet{c, b.Body, "sip"}
	f.address("ip_address", b.IPAddress, &s.IPAddress)
	if b.DNSServers != nil {
		s.DNSServers = make([]string, 0, len(*b.DNSServers))
		for _, v := range *b.DNSServers {
			v = strings.TrimSpace(v)
			server, err := dnsServer(v)
			if err != nil {
				f.c.fail(f.body, f.block, "dns_servers", "%q is not an IP address or IP:port.", v)
				continue
			}
			s.DNSServers = append(s.DNSServers, server)
		}
	}
	f.sipURI("identity", b.Identity, &s.Identity, false)
	f.port("udp_tcp_port", b.UDPTCPPort, &s.UDPTCPPort, 1)
	f.port("tls_port", b.TLSPort, &s.TLSPort, 0)
	f.str("tls_domain", b.TLSDomain, &s.TLSDomain)
	f.str("tls_cert_file", b.TLSCertFile, &s.TLSCertFile)
	f.str("tls_key_file", b.TLSKeyFile, &s.TLSKeyFile)
	f.str("tls_ca_file", b.TLSCAFile, &s.TLSCAFile)
	f.boolean(b.KeepAlives, &s.KeepAlives)
	f.positiveDuration("keepalive_interval", b.KeepAliveInterval, &s.KeepAliveInterval)
	c.sipTLS(b, s)
	f.sipURI("outbound_proxy", b.OutboundProxy, &s.OutboundProxy, true)
	// Both bound a wait no SIP timer bounds (a ringing INVITE, a silent
	// subscription): zero would leave a request without a final result.
	f.positiveDuration("ring_timeout", b.RingTimeout, &s.RingTimeout)
	f.positiveDuration("refer_timeout", b.ReferTimeout, &s.ReferTimeout)
	f.oneOf("destination_from", b.DestinationFrom, &s.DestinationFrom, strings.ToLower,
		DestinationFromInitiator, DestinationFromIdentity)
	f.str("auth_username", b.AuthUsername, &s.AuthUsername)
	f.str("auth_password", b.AuthPassword, &s.AuthPassword)
	f.boolean(b.AutoAnswer, &s.AutoAnswer)
	f.boolean(b.AssertIdentity, &s.AssertIdentity)
	f.duration("max_call_duration", b.MaxCallDuration, &s.MaxCallDuration)
	f.size("max_message_size", b.MaxMessageSize, &s.MaxMessageSize)
	f.positiveDuration("transaction_linger", b.TransactionLinger, &s.TransactionLinger)
}

// sipTLS checks the TLS settings together. With tls_domain and no file names
// it takes the seed's convention, a certificate and key named for the domain
// in the working directory (domain_cert_<domain>.pem, domain_key_<domain>.pem).
func (c *converter) sipTLS(b *sipBlock, s *SIP) {
	if s.TLSPort == 0 {
		return
	}
	if s.TLSPort == s.UDPTCPPort {
		c.fail(b.Body, "sip", "tls_port", "%d is also sip.udp_tcp_port: TLS needs a TCP port of its own.", s.TLSPort)
	}
	if s.TLSDomain != "" {
		if s.TLSCertFile == "" {
			s.TLSCertFile = "domain_cert_" + s.TLSDomain + ".pem"
		}
		if s.TLSKeyFile == "" {
			s.TLSKeyFile = "domain_key_" + s.TLSDomain + ".pem"
		}
	}
	if s.TLSCertFile == "" || s.TLSKeyFile == "" {
		c.fail(b.Body, "sip", "tls_port", "sip.tls_port = %d needs sip.tls_cert_file and sip.tls_key_file (or sip.tls_domain, for domain_cert_<domain>.pem and domain_key_<domain>.pem).", s.TLSPort)
	}
}

func (c *converter) http(b *httpBlock, h *HTTP) {
	f := fieldSet{c, b.Body, "http"}
	f.address("address", b.Address, &h.Address)
	f.port("port", b.Port, &h.Port, 0)
	f.boolean(b.Auth, &h.Auth)
	f.str("password", b.Password, &h.Password)
	f.oneOf("auth_scheme", b.AuthScheme, &h.AuthScheme, strings.ToLower, AuthSchemeDigest, AuthSchemeBasic)
	f.duration("nonce_lifetime", b.NonceLifetime, &h.NonceLifetime)
	f.count("max_connections", b.MaxConns, &h.MaxConns)
	f.count("max_connections_per_ip", b.MaxConnsPerIP, &h.MaxConnsPerIP)
	f.duration("read_timeout", b.ReadTimeout, &h.ReadTimeout)
	f.duration("idle_timeout", b.IdleTimeout, &h.IdleTimeout)
	f.size("max_request_size", b.MaxRequestSize, &h.MaxRequestSize)
	f.str("tls_cert_file", b.TLSCertFile, &h.TLSCertFile)
	f.str("tls_key_file", b.TLSKeyFile, &h.TLSKeyFile)
	f.tlsPair(h.TLSCertFile, h.TLSKeyFile)
	if h.Auth && h.Password == "" {
		// Authentication with an empty password protects nothing; say so at start.
		c.fail(b.Body, "http", "auth", "http.auth = true needs a non-empty http.password.")
	}
}

func (c *converter) xml(b *xmlBlock, x *XML) {
	f := fieldSet{c, b.Body, "xml"}
	f.address("address", b.Address, &x.Address)
	f.port("port", b.Port, &x.Port, 0)
	f.size("max_request_size", b.MaxRequestSize, &x.MaxRequestSize)
	f.count("max_connections", b.MaxConns, &x.MaxConns)
	f.count("max_connections_per_ip", b.MaxConnsPerIP, &x.MaxConnsPerIP)
	f.duration("idle_timeout", b.IdleTimeout, &x.IdleTimeout)
	f.duration("read_timeout", b.ReadTimeout, &x.ReadTimeout)
	f.str("tls_cert_file", b.TLSCertFile, &x.TLSCertFile)
	f.str("tls_key_file", b.TLSKeyFile, &x.TLSKeyFile)
	f.tlsPair(x.TLSCertFile, x.TLSKeyFile)
}

// tlsPair checks a front end's tls_cert_file and tls_key_file together:
// both turn TLS on, neither leaves the front end plain, and one alone is a
// mistake, reported on the line of the one that is set. The files are read
// at start (ServerTLS), like the SIP certificate.
func (f fieldSet) tlsPair(cert, key string) {
	switch {
	case cert != "" && key == "":
		f.c.fail(f.body, f.block, "tls_cert_file", "%s.tls_cert_file needs %s.tls_key_file too (both set = TLS, both empty = plain).", f.block, f.block)
	case cert == "" && key != "":
		f.c.fail(f.body, f.block, "tls_key_file", "%s.tls_key_file needs %s.tls_cert_file too (both set = TLS, both empty = plain).", f.block, f.block)
	}
}

func (c *converter) log(b *logBlock, l *Log) {
	f := fieldSet{c, b.Body, "log"}
	f.oneOf("level", b.Level, &l.Level, strings.ToUpper, LogLevels...)
	f.str("file", b.File, &l.File)
	f.count("max_lines", b.MaxLines, &l.MaxLines)
}

func (c *converter) api(b *apiBlock, a *API) {
	f := fieldSet{c, b.Body, "api"}
	f.str("status_callback_secret", b.StatusCallbackSecret, &a.StatusCallbackSecret)
	f.positiveDuration("status_callback_timeout", b.StatusCallbackTimeout, &a.StatusCallbackTimeout)
	f.positive("status_callback_attempts", b.StatusCallbackAttempts, &a.StatusCallbackAttempts)
	f.positive("status_callback_max_pending", b.StatusCallbackMaxPending, &a.StatusCallbackMaxPending)
	f.positiveDuration("call_retention", b.CallRetention, &a.CallRetention)
	f.positive("max_finished_calls", b.MaxFinishedCalls, &a.MaxFinishedCalls)
	f.positiveDuration("idempotency_window", b.IdempotencyWindow, &a.IdempotencyWindow)
	f.positive("max_request_ids", b.MaxRequestIDs, &a.MaxRequestIDs)
	f.positiveDuration("events_heartbeat", b.EventsHeartbeat, &a.EventsHeartbeat)
	f.boolean(b.MetricsAuth, &a.MetricsAuth)
	f.count("trace_calls", b.TraceCalls, &a.TraceCalls)
	f.callerIDs("caller_ids", b.CallerIDs, &a.CallerIDs)
	f.headerNames("allowed_headers", b.AllowedHeaders, &a.AllowedHeaders)
	f.positiveDuration("max_ring_timeout", b.MaxRingTimeout, &a.MaxRingTimeout)
	f.positiveDuration("max_time_limit", b.MaxTimeLimit, &a.MaxTimeLimit)
}

// callerIDs are regular expressions, each checked to compile as the whole-URI
// match CallerIDPattern makes of it.
func (f fieldSet) callerIDs(name string, v *[]string, dst *[]string) {
	if v == nil {
		return
	}
	out := make([]string, 0, len(*v))
	for _, p := range *v {
		p = strings.TrimSpace(p)
		if _, err := CallerIDPattern(p); err != nil {
			f.c.fail(f.body, f.block, name, "%q does not compile: %v.", p, err)
			continue
		}
		out = append(out, p)
	}
	*dst = out
}

// CallerIDPattern compiles one api.caller_ids entry: it must match a
// caller ID's whole URI, so "sip:\\+1555\\d{7}@example\\.com" cannot be
// satisfied by a URI that merely contains such a number.
func CallerIDPattern(p string) (*regexp.Regexp, error) {
	if _, err := regexp.Compile(p); err != nil {
		return nil, err
	}
	return regexp.Compile("^(?:" + p + ")$")
}

// headerNames are SIP header names a request may add: tokens, and none the
// server writes itself (a second Via or Call-ID would break the call).
func (f fieldSet) headerNames(name string, v *[]string, dst *[]string) {
	if v == nil {
		return
	}
	out := make([]string, 0, len(*v))
	for _, h := range *v {
		h = strings.TrimSpace(h)
		switch {
		case !IsHeaderName(h):
			f.c.fail(f.body, f.block, name, "%q is not a SIP header name.", h)
		case ReservedHeader(h):
			f.c.fail(f.body, f.block, name, "%q is written by the server itself and cannot be added by a request.", h)
		default:
			out = append(out, h)
		}
	}
	*dst = out
}

// clusterNamePattern keeps a cluster's name fit for etcd keys and logs.
var clusterNamePattern = regexp.MustCompile(`^[A-Za-z0-9._-]{1,64}$`)

func (c *converter) cluster(b *clusterBlock, cl *Cluster) {
	f := fieldSet{c, b.Body, "cluster"}
	cl.Enabled = true // writing the block turns the cluster on
	f.boolean(b.Enabled, &cl.Enabled)
	if b.Name != nil {
		name := strings.TrimSpace(*b.Name)
		if !clusterNamePattern.MatchString(name) {
			f.c.fail(f.body, f.block, "name", "%q: a name is 1 to 64 letters, digits, '.', '_' or '-'.", name)
		} else {
			cl.Name = name
		}
	}
	if b.Address != nil {
		addr := strings.TrimSpace(*b.Address)
		if addr == "" {
			cl.Address = ""
		} else if err := advertisedAddress(addr); err != nil {
			f.c.fail(f.body, f.block, "address", "%q %v.", addr, err)
		} else {
			cl.Address = addr
		}
	}
	f.oneOf("provider", b.Provider, &cl.Provider, strings.ToLower, ClusterProviderEtcd)
	if b.EtcdEndpoints != nil {
		cl.EtcdEndpoints = make([]string, 0, len(*b.EtcdEndpoints))
		for _, v := range *b.EtcdEndpoints {
			v = strings.TrimSpace(v)
			if _, port, err := net.SplitHostPort(v); err != nil || port == "" {
				f.c.fail(f.body, f.block, "etcd_endpoints", "%q is not host:port.", v)
				continue
			}
			cl.EtcdEndpoints = append(cl.EtcdEndpoints, v)
		}
	}
	f.positiveDuration("request_timeout", b.RequestTimeout, &cl.RequestTimeout)
	if !cl.Enabled {
		return
	}
	if cl.Address == "" {
		f.c.fail(f.body, f.block, "address", "a cluster needs this node's address (host:port the other nodes reach it at).")
	}
	if len(cl.EtcdEndpoints) == 0 && b.EtcdEndpoints != nil {
		f.c.fail(f.body, f.block, "etcd_endpoints", "the list is empty: give at least one etcd server.")
	}
}

// advertisedAddress checks a host:port other nodes connect to: a port from
// 1 to 65535 and a host that names one machine (not "0.0.0.0" or "").
func advertisedAddress(s string) error {
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		return fmt.Errorf("is not host:port")
	}
	if p, err := strconv.Atoi(port); err != nil || p < 1 || p > 65535 {
		return fmt.Errorf("has port %q; want 1..65535", port)
	}
	if host == "" {
		return fmt.Errorf("has no host; the other nodes connect to it")
	}
	if a, err := netip.ParseAddr(host); err == nil && a.IsUnspecified() {
		return fmt.Errorf("is the unspecified address; give one the other nodes can reach")
	}
	return nil
}

func (c *converter) rule(t translationBlock) (Rule, bool) {
	pattern := strings.TrimSpace(t.Pattern)
	re, err := regexp.Compile(pattern)
	if err != nil {
		c.fail(t.Body, "translation", "pattern", "%q does not compile: %v.", pattern, err)
		return Rule{}, false
	}
	return Rule{Pattern: re, Output: rewriteOutput(strings.TrimSpace(t.Output)), Range: t.DefRange}, true
}

// fieldSet converts the attributes of one block.
type fieldSet struct {
	c     *converter
	body  hcl.Body
	block string
}

func (f fieldSet) str(_ string, v *string, dst *string) {
	if v != nil {
		*dst = strings.TrimSpace(*v)
	}
}

func (f fieldSet) boolean(v *bool, dst *bool) {
	if v != nil {
		*dst = *v
	}
}

func (f fieldSet) address(name string, v *string, dst *string) {
	if v == nil {
		return
	}
	s := strings.TrimSpace(*v)
	if s != "" {
		if _, err := netip.ParseAddr(s); err != nil {
			f.c.fail(f.body, f.block, name, "%q is not an IP address (leave it empty to use all interfaces).", s)
			return
		}
	}
	*dst = s
}

func (f fieldSet) port(name string, v *int, dst *int, lowest int) {
	if v == nil {
		return
	}
	if *v < lowest || *v > 65535 {
		f.c.fail(f.body, f.block, name, "port %d is out of range %d..65535.", *v, lowest)
		return
	}
	*dst = *v
}

// count is a number of things where 0 means none or unlimited.
func (f fieldSet) count(name string, v *int, dst *int) {
	if v == nil {
		return
	}
	if *v < 0 {
		f.c.fail(f.body, f.block, name, "%d is negative.", *v)
		return
	}
	*dst = *v
}

// size is a byte limit; 0 would refuse everything, so it must be positive.
func (f fieldSet) size(name string, v *int, dst *int) {
	if v == nil {
		return
	}
	if *v <= 0 {
		f.c.fail(f.body, f.block, name, "%d bytes: a size must be positive.", *v)
		return
	}
	*dst = *v
}

// positive is a number of things that must be at least one.
func (f fieldSet) positive(name string, v *int, dst *int) {
	if v == nil {
		return
	}
	if *v <= 0 {
		f.c.fail(f.body, f.block, name, "%d: it must be at least 1.", *v)
		return
	}
	*dst = *v
}

// positiveDuration is a duration where zero would disable the thing it bounds.
func (f fieldSet) positiveDuration(name string, v *string, dst *time.Duration) {
	if v == nil {
		return
	}
	var d time.Duration
	before := len(f.c.diags)
	f.duration(name, v, &d)
	if len(f.c.diags) > before {
		return
	}
	if d == 0 {
		f.c.fail(f.body, f.block, name, "%q: it must be longer than zero.", strings.TrimSpace(*v))
		return
	}
	*dst = d
}

func (f fieldSet) duration(name string, v *string, dst *time.Duration) {
	if v == nil {
		return
	}
	s := strings.TrimSpace(*v)
	d, err := time.ParseDuration(s)
	if err != nil {
		f.c.fail(f.body, f.block, name, "%q is not a duration like \"30s\" or \"5m\".", s)
		return
	}
	if d < 0 {
		f.c.fail(f.body, f.block, name, "%q is negative.", s)
		return
	}
	*dst = d
}

// maxQueueTimeout bounds limits.queue_timeout: a call that waits longer to
// start has been accepted (HTTP 200) long before its phone rings.
const maxQueueTimeout = time.Minute

// durationAtMost is a duration no longer than limit.
func (f fieldSet) durationAtMost(name string, v *string, dst *time.Duration, limit time.Duration) {
	if v == nil {
		return
	}
	var d time.Duration
	before := len(f.c.diags)
	f.duration(name, v, &d)
	if len(f.c.diags) > before {
		return
	}
	if d > limit {
		f.c.fail(f.body, f.block, name, "%q is longer than %s.", strings.TrimSpace(*v), shortDuration(limit))
		return
	}
	*dst = d
}

// minMemoryLimit is the smallest memory_limit taken: below it the server
// would do little but collect garbage, and a smaller value is almost surely
// a number written without its unit ("512" meaning 512MiB).
const minMemoryLimit = 1 << 20

// memoryLimit is a byte size ("512MiB", "1500MB", "536870912"), 0 = none.
func (f fieldSet) memoryLimit(name string, v *string, dst *int64) {
	if v == nil {
		return
	}
	s := strings.TrimSpace(*v)
	n, err := parseSize(s)
	if err != nil {
		f.c.fail(f.body, f.block, name, "%v.", err)
		return
	}
	if n != 0 && n < minMemoryLimit {
		f.c.fail(f.body, f.block, name, "%q is %d bytes, below the least limit of 1MiB; a plain number is bytes, so write the unit (\"512MiB\"), or \"0\" for no limit.", s, n)
		return
	}
	*dst = n
}

func (f fieldSet) oneOf(name string, v *string, dst *string, norm func(string) string, allowed ...string) {
	if v == nil {
		return
	}
	s := norm(strings.TrimSpace(*v))
	for _, a := range allowed {
		if s == a {
			*dst = s
			return
		}
	}
	f.c.fail(f.body, f.block, name, "%q is not one of %s.", strings.TrimSpace(*v), strings.Join(allowed, ", "))
}

func (f fieldSet) sipURI(name string, v *string, dst *string, emptyOK bool) {
	if v == nil {
		return
	}
	s := strings.TrimSpace(*v)
	if s == "" && emptyOK {
		*dst = s
		return
	}
	if err := ValidateSIPURI(s); err != nil {
		f.c.fail(f.body, f.block, name, "%q is not a SIP or SIPS URI: %v.", s, err)
		return
	}
	*dst = s
}

// dnsServer accepts "ip" or "ip:port" and returns "ip:port", adding port 53,
// so the resolver can dial it as it is.
func dnsServer(s string) (string, error) {
	if a, err := netip.ParseAddr(s); err == nil {
		return net.JoinHostPort(a.String(), "53"), nil
	}
	ap, err := netip.ParseAddrPort(s)
	if err != nil {
		return "", err
	}
	if ap.Port() == 0 {
		return "", fmt.Errorf("port 0")
	}
	return ap.String(), nil
}

// keys lists the attribute names of every block (top level under ""), so
// tests can check that config.hcl, Settings and docs/configuration.md cover them all.
func keys() map[string][]string {
	out := map[string][]string{}
	for name, v := range map[string]any{
		"":            fileBlock{},
		"sip":         sipBlock{},
		"http":        httpBlock{},
		"xml":         xmlBlock{},
		"log":         logBlock{},
		"limits":      limitsBlock{},
		"api":         apiBlock{},
		"cdr":         cdrBlock{},
		"cluster":     clusterBlock{},
		"translation": translationBlock{},
	} {
		schema, _ := gohcl.ImpliedBodySchema(v)
		for _, a := range schema.Attributes {
			out[name] = append(out[name], a.Name)
		}
		sort.Strings(out[name])
	}
	return out
}
