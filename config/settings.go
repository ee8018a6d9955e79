package config

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Setting is one effective setting as shown by `clicktocall check` and
// logged at start-up: Key is the HCL path ("sip.udp_tcp_port"), Value is
// written the way config.hcl would write it.
type Setting struct {
	Key   string
	Value string
}

// Settings lists every effective setting, secrets redacted, then one entry
// per translation rule ("translation[0]") giving its place in the file.
func (c *Config) Settings() []Setting {
	var out []Setting
	add := func(key string, v any) {
		out = append(out, Setting{Key: key, Value: hclValue(v)})
	}
	s := c.SIP
	add("sip.ip_address", s.IPAddress)
	add("sip.dns_servers", s.DNSServers)
	add("sip.identity", s.Identity)
	add("sip.udp_tcp_port", s.UDPTCPPort)
	add("sip.tls_port", s.TLSPort)
	add("sip.tls_domain", s.TLSDomain)
	add("sip.tls_cert_file", s.TLSCertFile)
	add("sip.tls_key_file", s.TLSKeyFile)
	add("sip.tls_ca_file", s.TLSCAFile)
	add("sip.keepalives", s.KeepAlives)
	add("sip.keepalive_interval", s.KeepAliveInterval)
	add("sip.outbound_proxy", s.OutboundProxy)
	add("sip.ring_timeout", s.RingTimeout)
	add("sip.refer_timeout", s.ReferTimeout)
	add("sip.destination_from", s.DestinationFrom)
	add("sip.auth_username", s.AuthUsername)
	add("sip.auth_password", redacted(s.AuthPassword))
	add("sip.auto_answer", s.AutoAnswer)
	add("sip.assert_identity", s.AssertIdentity)
	add("sip.max_call_duration", s.MaxCallDuration)
	add("sip.max_message_size", s.MaxMessageSize)
	add("sip.transaction_linger", s.TransactionLinger)
	h := c.HTTP
	add("http.address", h.Address)
	add("http.port", h.Port)
	add("http.auth", h.Auth)
	add("http.password", redacted(h.Password))
	add("http.auth_scheme", h.AuthScheme)
	add("http.nonce_lifetime", h.NonceLifetime)
	add("http.max_connections", h.MaxConns)
	add("http.max_connections_per_ip", h.MaxConnsPerIP)
	add("http.read_timeout", h.ReadTimeout)
	add("http.idle_timeout", h.IdleTimeout)
	add("http.max_request_size", h.MaxRequestSize)
	add("http.tls_cert_file", h.TLSCertFile)
	add("http.tls_key_file", h.TLSKeyFile)
	x := c.XML
	add("xml.address", x.Address)
	add("xml.port", x.Port)
	add("xml.max_request_size", x.MaxRequestSize)
	add("xml.max_connections", x.MaxConns)
	add("xml.max_connections_per_ip", x.MaxConnsPerIP)
	add("xml.idle_timeout", x.IdleTimeout)
	add("xml.read_timeout", x.ReadTimeout)
	add("xml.tls_cert_file", x.TLSCertFile)
	add("xml.tls_key_file", x.TLSKeyFile)
	add("log.level", c.Log.Level)
	add("log.file", c.Log.File)
	add("log.max_lines", c.Log.MaxLines)
	l := c.Limits
	add("limits.max_active_calls", l.MaxActiveCalls)
	add("limits.max_calls_per_second", l.MaxCallsPerSecond)
	add("limits.max_calls_per_second_per_ip", l.MaxCallsPerSecondPerIP)
	add("limits.max_calls_per_initiator", l.MaxCallsPerInitiator)
	add("limits.overload_lag_target", l.OverloadLagTarget)
	add("limits.queue_timeout", l.QueueTimeout)
	a := c.API
	add("api.status_callback_secret", redacted(a.StatusCallbackSecret))
	add("api.status_callback_timeout", a.StatusCallbackTimeout)
	add("api.status_callback_attempts", a.StatusCallbackAttempts)
	add("api.status_callback_max_pending", a.StatusCallbackMaxPending)
	add("api.call_retention", a.CallRetention)
	add("api.max_finished_calls", a.MaxFinishedCalls)
	add("api.idempotency_window", a.IdempotencyWindow)
	add("api.max_request_ids", a.MaxRequestIDs)
	add("api.events_heartbeat", a.EventsHeartbeat)
	add("api.metrics_auth", a.MetricsAuth)
	add("api.trace_calls", a.TraceCalls)
	add("api.caller_ids", a.CallerIDs)
	add("api.allowed_headers", a.AllowedHeaders)
	add("api.max_ring_timeout", a.MaxRingTimeout)
	add("api.max_time_limit", a.MaxTimeLimit)
	add("cdr.file", c.CDR.File)
	add("cdr.max_lines", c.CDR.MaxLines)
	cl := c.Cluster
	add("cluster.enabled", cl.Enabled)
	add("cluster.name", cl.Name)
	add("cluster.address", cl.Address)
	add("cluster.provider", cl.Provider)
	add("cluster.etcd_endpoints", cl.EtcdEndpoints)
	add("cluster.request_timeout", cl.RequestTimeout)
	add("shutdown_timeout", c.ShutdownTimeout)
	add("memory_limit", byteSize(c.MemoryLimit))
	for i, r := range c.Translation {
		out = append(out, Setting{
			Key: fmt.Sprintf("translation[%d]", i),
			Value: fmt.Sprintf("%s:%d pattern = %s output = %s",
				r.Range.Filename, r.Range.Start.Line, hclValue(r.Pattern.String()), hclValue(r.Output)),
		})
	}
	return out
}

// redactedText stands in for a secret that is set.
const redactedText = "(set, not shown)"

type redacted string

func hclValue(v any) string {
	switch v := v.(type) {
	case redacted:
		if v == "" {
			return `""`
		}
		return redactedText
	case string:
		return strconv.Quote(v)
	case []string:
		q := make([]string, len(v))
		for i, s := range v {
			q[i] = strconv.Quote(s)
		}
		return "[" + strings.Join(q, ", ") + "]"
	case time.Duration:
		return strconv.Quote(shortDuration(v))
	case byteSize:
		return strconv.Quote(formatSize(int64(v)))
	default:
		return fmt.Sprint(v)
	}
}

// shortDuration writes 60s as "1m" rather than time's "1m0s".
func shortDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}
