package config

import (
	"fmt"
	"math/big"
	"net"
	"net/netip"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/convert"

	"github.com/clicktocall/clicktocall/transport/rfc3261"
)

// setting is one row of the settings table: a key of config.hcl, its
// default, how its value is read and checked, and how `clicktocall check`
// shows it. The table drives Parse, Default and Settings; the tests hold
// config.hcl and docs/configuration.md to it.
//
// To add a setting: add its field to Config, its row here, and its line to
// config.hcl and docs/configuration.md. Nothing else reads or defaults it.
type setting struct {
	key string   // "sip.udp_tcp_port"; a key without a dot is at the top level
	ty  cty.Type // what the HCL value must convert to
	// set stores v (of type ty) in c, or says what is wrong with it.
	set  func(c *Config, v cty.Value) (problem string)
	def  func(c *Config)        // stores the default in c
	show func(c *Config) string // the value as config.hcl writes it, secrets redacted
}

// maxQueueTimeout bounds limits.queue_timeout: a call that waits longer to
// start has been accepted (HTTP 200) long before its phone rings.
const maxQueueTimeout = time.Minute

// minMemoryLimit is the smallest memory_limit taken: below it the server
// would do little but collect garbage, and a smaller value is almost surely
// a number written without its unit ("512" meaning 512MiB).
const minMemoryLimit = 1 << 20

var table = []setting{
	address("sip.ip_address", func(c *Config) *string { return &c.SIP.IPAddress }),
	list("sip.dns_servers", func(c *Config) *[]string { return &c.SIP.DNSServers }, dnsServerItem),
	sipURI("sip.identity", func(c *Config) *string { return &c.SIP.Identity }, "sip:clicktocall@example.com", false),
	port("sip.udp_tcp_port", func(c *Config) *int { return &c.SIP.UDPTCPPort }, 5072, 1),
	port("sip.tls_port", func(c *Config) *int { return &c.SIP.TLSPort }, 0, 0), // TLS needs a certificate: off until one is configured
	text("sip.tls_domain", func(c *Config) *string { return &c.SIP.TLSDomain }, ""),
	text("sip.tls_cert_file", func(c *Config) *string { return &c.SIP.TLSCertFile }, ""),
	text("sip.tls_key_file", func(c *Config) *string { return &c.SIP.TLSKeyFile }, ""),
	text("sip.tls_ca_file", func(c *Config) *string { return &c.SIP.TLSCAFile }, ""),
	boolean("sip.keepalives", func(c *Config) *bool { return &c.SIP.KeepAlives }, true),
	duration("sip.keepalive_interval", func(c *Config) *time.Duration { return &c.SIP.KeepAliveInterval }, 30*time.Second, positive),
	sipURI("sip.outbound_proxy", func(c *Config) *string { return &c.SIP.OutboundProxy }, "", true),
	// Both bound a wait no SIP timer bounds (a ringing INVITE, a silent
	// subscription): zero would leave a request without a final result.
	duration("sip.ring_timeout", func(c *Config) *time.Duration { return &c.SIP.RingTimeout }, 60*time.Second, positive),
	duration("sip.refer_timeout", func(c *Config) *time.Duration { return &c.SIP.ReferTimeout }, rfc3261.Timer64T1, positive),
	oneOf("sip.destination_from", func(c *Config) *string { return &c.SIP.DestinationFrom }, strings.ToLower,
		DestinationFromInitiator, DestinationFromInitiator, DestinationFromIdentity),
	text("sip.auth_username", func(c *Config) *string { return &c.SIP.AuthUsername }, ""),
	secret("sip.auth_password", func(c *Config) *string { return &c.SIP.AuthPassword }),
	boolean("sip.auto_answer", func(c *Config) *bool { return &c.SIP.AutoAnswer }, false),
	boolean("sip.assert_identity", func(c *Config) *bool { return &c.SIP.AssertIdentity }, false),
	duration("sip.max_call_duration", func(c *Config) *time.Duration { return &c.SIP.MaxCallDuration }, 0, 0),
	number("sip.max_message_size", func(c *Config) *int { return &c.SIP.MaxMessageSize }, 65535, positiveSize),
	duration("sip.transaction_linger", func(c *Config) *time.Duration { return &c.SIP.TransactionLinger }, rfc3261.Timer64T1, positive),

	address("http.address", func(c *Config) *string { return &c.HTTP.Address }),
	port("http.port", func(c *Config) *int { return &c.HTTP.Port }, 5090, 0),
	boolean("http.auth", func(c *Config) *bool { return &c.HTTP.Auth }, false),
	secret("http.password", func(c *Config) *string { return &c.HTTP.Password }),
	oneOf("http.auth_scheme", func(c *Config) *string { return &c.HTTP.AuthScheme }, strings.ToLower,
		AuthSchemeDigest, AuthSchemeDigest, AuthSchemeBasic),
	duration("http.nonce_lifetime", func(c *Config) *time.Duration { return &c.HTTP.NonceLifetime }, 5*time.Minute, 0),
	number("http.max_connections", func(c *Config) *int { return &c.HTTP.MaxConns }, 10000, count),
	number("http.max_connections_per_ip", func(c *Config) *int { return &c.HTTP.MaxConnsPerIP }, 1000, count),
	duration("http.read_timeout", func(c *Config) *time.Duration { return &c.HTTP.ReadTimeout }, 10*time.Second, 0),
	duration("http.idle_timeout", func(c *Config) *time.Duration { return &c.HTTP.IdleTimeout }, 60*time.Second, 0),
	number("http.max_request_size", func(c *Config) *int { return &c.HTTP.MaxRequestSize }, 16384, positiveSize),
	text("http.tls_cert_file", func(c *Config) *string { return &c.HTTP.TLSCertFile }, ""), // plain HTTP until a certificate is configured
	text("http.tls_key_file", func(c *Config) *string { return &c.HTTP.TLSKeyFile }, ""),

	address("xml.address", func(c *Config) *string { return &c.XML.Address }),
	port("xml.port", func(c *Config) *int { return &c.XML.Port }, 5094, 0),
	number("xml.max_request_size", func(c *Config) *int { return &c.XML.MaxRequestSize }, 65536, positiveSize),
	number("xml.max_connections", func(c *Config) *int { return &c.XML.MaxConns }, 10000, count),
	number("xml.max_connections_per_ip", func(c *Config) *int { return &c.XML.MaxConnsPerIP }, 1000, count),
	// Never by default: an XML client may wait silently for its call's results.
	duration("xml.idle_timeout", func(c *Config) *time.Duration { return &c.XML.IdleTimeout }, 0, 0),
	duration("xml.read_timeout", func(c *Config) *time.Duration { return &c.XML.ReadTimeout }, 10*time.Second, 0),
	text("xml.tls_cert_file", func(c *Config) *string { return &c.XML.TLSCertFile }, ""), // plain TCP until a certificate is configured
	text("xml.tls_key_file", func(c *Config) *string { return &c.XML.TLSKeyFile }, ""),

	oneOf("log.level", func(c *Config) *string { return &c.Log.Level }, strings.ToUpper, LogLevels[4], LogLevels...),
	text("log.file", func(c *Config) *string { return &c.Log.File }, "clicktocall.log"),
	number("log.max_lines", func(c *Config) *int { return &c.Log.MaxLines }, 50000, count),

	number("limits.max_active_calls", func(c *Config) *int { return &c.Limits.MaxActiveCalls }, 20000, count),
	number("limits.max_calls_per_second", func(c *Config) *int { return &c.Limits.MaxCallsPerSecond }, 0, count),
	number("limits.max_calls_per_second_per_ip", func(c *Config) *int { return &c.Limits.MaxCallsPerSecondPerIP }, 0, count),
	number("limits.max_calls_per_initiator", func(c *Config) *int { return &c.Limits.MaxCallsPerInitiator }, 0, count),
	duration("limits.overload_lag_target", func(c *Config) *time.Duration { return &c.Limits.OverloadLagTarget }, 20*time.Millisecond, 0),
	duration("limits.peer_delay_target", func(c *Config) *time.Duration { return &c.Limits.PeerDelayTarget }, 5*time.Millisecond, 0),
	// Refuse at once while shedding, by default.
	duration("limits.queue_timeout", func(c *Config) *time.Duration { return &c.Limits.QueueTimeout }, 0, maxQueueTimeout),

	secret("api.status_callback_secret", func(c *Config) *string { return &c.API.StatusCallbackSecret }),
	duration("api.status_callback_timeout", func(c *Config) *time.Duration { return &c.API.StatusCallbackTimeout }, 5*time.Second, positive),
	number("api.status_callback_attempts", func(c *Config) *int { return &c.API.StatusCallbackAttempts }, 5, atLeastOne),
	number("api.status_callback_max_pending", func(c *Config) *int { return &c.API.StatusCallbackMaxPending }, 1000, atLeastOne),
	duration("api.call_retention", func(c *Config) *time.Duration { return &c.API.CallRetention }, 10*time.Minute, positive),
	number("api.max_finished_calls", func(c *Config) *int { return &c.API.MaxFinishedCalls }, 10000, atLeastOne),
	duration("api.idempotency_window", func(c *Config) *time.Duration { return &c.API.IdempotencyWindow }, 10*time.Minute, positive),
	number("api.max_request_ids", func(c *Config) *int { return &c.API.MaxRequestIDs }, 10000, atLeastOne),
	duration("api.events_heartbeat", func(c *Config) *time.Duration { return &c.API.EventsHeartbeat }, 15*time.Second, positive),
	boolean("api.metrics_auth", func(c *Config) *bool { return &c.API.MetricsAuth }, true),
	number("api.trace_calls", func(c *Config) *int { return &c.API.TraceCalls }, 1000, count),
	// No caller ID is allowed until patterns are configured.
	list("api.caller_ids", func(c *Config) *[]string { return &c.API.CallerIDs }, callerIDItem),
	list("api.allowed_headers", func(c *Config) *[]string { return &c.API.AllowedHeaders }, headerNameItem),
	duration("api.max_ring_timeout", func(c *Config) *time.Duration { return &c.API.MaxRingTimeout }, 2*time.Minute, positive),
	duration("api.max_time_limit", func(c *Config) *time.Duration { return &c.API.MaxTimeLimit }, 4*time.Hour, positive),

	text("cdr.file", func(c *Config) *string { return &c.CDR.File }, ""),
	number("cdr.max_lines", func(c *Config) *int { return &c.CDR.MaxLines }, 50000, count),

	// Writing the cluster { } block turns it on (enabled = false turns it
	// off again); one node alone until then.
	boolean("cluster.enabled", func(c *Config) *bool { return &c.Cluster.Enabled }, false),
	str("cluster.name", func(c *Config) *string { return &c.Cluster.Name }, "clicktocall", clusterName),
	str("cluster.address", func(c *Config) *string { return &c.Cluster.Address }, "", advertisedAddress),
	oneOf("cluster.provider", func(c *Config) *string { return &c.Cluster.Provider }, strings.ToLower,
		ClusterProviderEtcd, ClusterProviderEtcd),
	listWithDefault("cluster.etcd_endpoints", func(c *Config) *[]string { return &c.Cluster.EtcdEndpoints },
		[]string{"127.0.0.1:2379"}, hostPortItem),
	duration("cluster.request_timeout", func(c *Config) *time.Duration { return &c.Cluster.RequestTimeout }, 2*time.Second, positive),

	duration("shutdown_timeout", func(c *Config) *time.Duration { return &c.ShutdownTimeout }, 10*time.Second, 0),
	// None by default: the runtime's default, or GOMEMLIMIT.
	memoryLimit("memory_limit", func(c *Config) *int64 { return &c.MemoryLimit }),
}

// Ways a duration may be bounded besides being non-negative: positive, or
// at most a limit (any other value).
const positive time.Duration = -1

func duration(key string, field func(*Config) *time.Duration, def, bound time.Duration) setting {
	return setting{
		key: key, ty: cty.String,
		set: func(c *Config, v cty.Value) string {
			s := strings.TrimSpace(v.AsString())
			d, err := time.ParseDuration(s)
			switch {
			case err != nil:
				return fmt.Sprintf("%q is not a duration like \"30s\" or \"5m\".", s)
			case d < 0:
				return fmt.Sprintf("%q is negative.", s)
			case bound == positive && d == 0:
				return fmt.Sprintf("%q: it must be longer than zero.", s)
			case bound > 0 && d > bound:
				return fmt.Sprintf("%q is longer than %s.", s, shortDuration(bound))
			}
			*field(c) = d
			return ""
		},
		def:  func(c *Config) { *field(c) = def },
		show: func(c *Config) string { return hclValue(*field(c)) },
	}
}

// The checks of a number.
var (
	count        = func(n int) string { return cond(n < 0, fmt.Sprintf("%d is negative.", n)) } // 0 = none or unlimited
	positiveSize = func(n int) string { return cond(n <= 0, fmt.Sprintf("%d bytes: a size must be positive.", n)) }
	atLeastOne   = func(n int) string { return cond(n <= 0, fmt.Sprintf("%d: it must be at least 1.", n)) }
)

func cond(bad bool, problem string) string {
	if bad {
		return problem
	}
	return ""
}

func number(key string, field func(*Config) *int, def int, check func(int) string) setting {
	return setting{
		key: key, ty: cty.Number,
		set: func(c *Config, v cty.Value) string {
			n, problem := whole(v)
			if problem == "" {
				problem = check(n)
			}
			if problem == "" {
				*field(c) = n
			}
			return problem
		},
		def:  func(c *Config) { *field(c) = def },
		show: func(c *Config) string { return hclValue(*field(c)) },
	}
}

func port(key string, field func(*Config) *int, def, lowest int) setting {
	return number(key, field, def, func(n int) string {
		return cond(n < lowest || n > 65535, fmt.Sprintf("port %d is out of range %d..65535.", n, lowest))
	})
}

// whole is v as an int, or why it is not one.
func whole(v cty.Value) (int, string) {
	bf := v.AsBigFloat()
	if !bf.IsInt() {
		return 0, fmt.Sprintf("%s is not a whole number.", bf.Text('g', -1))
	}
	i, acc := bf.Int64()
	if acc != big.Exact || int64(int(i)) != i {
		return 0, fmt.Sprintf("%s is out of range.", bf.Text('g', -1))
	}
	return int(i), ""
}

func boolean(key string, field func(*Config) *bool, def bool) setting {
	return setting{
		key: key, ty: cty.Bool,
		set:  func(c *Config, v cty.Value) string { *field(c) = v.True(); return "" },
		def:  func(c *Config) { *field(c) = def },
		show: func(c *Config) string { return hclValue(*field(c)) },
	}
}

// str is a string setting whose trimmed value check accepts (returning it
// normalised) or refuses.
func str(key string, field func(*Config) *string, def string, check func(string) (string, string)) setting {
	return setting{
		key: key, ty: cty.String,
		set: func(c *Config, v cty.Value) string {
			s, problem := check(strings.TrimSpace(v.AsString()))
			if problem == "" {
				*field(c) = s
			}
			return problem
		},
		def:  func(c *Config) { *field(c) = def },
		show: func(c *Config) string { return hclValue(*field(c)) },
	}
}

func text(key string, field func(*Config) *string, def string) setting {
	return str(key, field, def, func(s string) (string, string) { return s, "" })
}

// secret is a text setting `check` does not show.
func secret(key string, field func(*Config) *string) setting {
	s := text(key, field, "")
	s.show = func(c *Config) string { return hclValue(redacted(*field(c))) }
	return s
}

func address(key string, field func(*Config) *string) setting {
	return str(key, field, "", func(s string) (string, string) {
		if _, err := netip.ParseAddr(s); s != "" && err != nil {
			return "", fmt.Sprintf("%q is not an IP address (leave it empty to use all interfaces).", s)
		}
		return s, ""
	})
}

func sipURI(key string, field func(*Config) *string, def string, emptyOK bool) setting {
	return str(key, field, def, func(s string) (string, string) {
		if s == "" && emptyOK {
			return s, ""
		}
		if err := ValidateSIPURI(s); err != nil {
			return "", fmt.Sprintf("%q is not a SIP or SIPS URI: %v.", s, err)
		}
		return s, ""
	})
}

// oneOf accepts the values allowed, after norm.
func oneOf(key string, field func(*Config) *string, norm func(string) string, def string, allowed ...string) setting {
	return str(key, field, def, func(s string) (string, string) {
		for _, a := range allowed {
			if norm(s) == a {
				return a, ""
			}
		}
		return "", fmt.Sprintf("%q is not one of %s.", s, strings.Join(allowed, ", "))
	})
}

// list is a list of strings, each trimmed and checked by item; empty by
// default.
func list(key string, field func(*Config) *[]string, item func(string) (string, string)) setting {
	return listWithDefault(key, field, []string{}, item)
}

func listWithDefault(key string, field func(*Config) *[]string, def []string, item func(string) (string, string)) setting {
	return setting{
		key: key, ty: cty.List(cty.String),
		set: func(c *Config, v cty.Value) string {
			out := make([]string, 0, v.LengthInt())
			for _, e := range v.AsValueSlice() {
				s, problem := item(strings.TrimSpace(e.AsString()))
				if problem != "" {
					return problem
				}
				out = append(out, s)
			}
			*field(c) = out
			return ""
		},
		def:  func(c *Config) { *field(c) = append([]string{}, def...) },
		show: func(c *Config) string { return hclValue(*field(c)) },
	}
}

// clusterNamePattern keeps a cluster's name fit for etcd keys and logs.
var clusterNamePattern = regexp.MustCompile(`^[A-Za-z0-9._-]{1,64}$`)

func clusterName(s string) (string, string) {
	if !clusterNamePattern.MatchString(s) {
		return "", fmt.Sprintf("%q: a name is 1 to 64 letters, digits, '.', '_' or '-'.", s)
	}
	return s, ""
}

// advertisedAddress checks a host:port other nodes connect to: a port from
// 1 to 65535 and a host that names one machine (not "0.0.0.0" or "").
func advertisedAddress(s string) (string, string) {
	if s == "" {
		return s, ""
	}
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		return "", fmt.Sprintf("%q is not host:port.", s)
	}
	if p, err := strconv.Atoi(port); err != nil || p < 1 || p > 65535 {
		return "", fmt.Sprintf("%q has port %q; want 1..65535.", s, port)
	}
	if host == "" {
		return "", fmt.Sprintf("%q has no host; the other nodes connect to it.", s)
	}
	if a, err := netip.ParseAddr(host); err == nil && a.IsUnspecified() {
		return "", fmt.Sprintf("%q is the unspecified address; give one the other nodes can reach.", s)
	}
	return s, ""
}

func hostPortItem(s string) (string, string) {
	if _, port, err := net.SplitHostPort(s); err != nil || port == "" {
		return "", fmt.Sprintf("%q is not host:port.", s)
	}
	return s, ""
}

func dnsServerItem(s string) (string, string) {
	server, err := dnsServer(s)
	if err != nil {
		return "", fmt.Sprintf("%q is not an IP address or IP:port.", s)
	}
	return server, ""
}

func callerIDItem(s string) (string, string) {
	if _, err := CallerIDPattern(s); err != nil {
		return "", fmt.Sprintf("%q does not compile: %v.", s, err)
	}
	return s, ""
}

func headerNameItem(s string) (string, string) {
	switch {
	case !IsHeaderName(s):
		return "", fmt.Sprintf("%q is not a SIP header name.", s)
	case ReservedHeader(s):
		return "", fmt.Sprintf("%q is written by the server itself and cannot be added by a request.", s)
	}
	return s, ""
}

// memoryLimit is a byte size ("512MiB", "1500MB", "536870912"), 0 = none.
func memoryLimit(key string, field func(*Config) *int64) setting {
	return setting{
		key: key, ty: cty.String,
		set: func(c *Config, v cty.Value) string {
			s := strings.TrimSpace(v.AsString())
			n, err := parseSize(s)
			switch {
			case err != nil:
				return fmt.Sprintf("%v.", err)
			case n != 0 && n < minMemoryLimit:
				return fmt.Sprintf("%q is %d bytes, below the least limit of 1MiB; a plain number is bytes, so write the unit (\"512MiB\"), or \"0\" for no limit.", s, n)
			}
			*field(c) = n
			return ""
		},
		def:  func(c *Config) { *field(c) = 0 },
		show: func(c *Config) string { return hclValue(byteSize(*field(c))) },
	}
}

// convertTo converts v to ty, or says why it cannot be (as gohcl did).
func convertTo(v cty.Value, ty cty.Type) (cty.Value, string) {
	out, err := convert.Convert(v, ty)
	if err != nil {
		return cty.NilVal, "Unsuitable value: " + err.Error()
	}
	if out.IsNull() {
		return cty.NilVal, "Unsuitable value: null"
	}
	if !out.IsWhollyKnown() {
		return cty.NilVal, "Unsuitable value: not known"
	}
	return out, ""
}
