// Package config loads config.hcl into typed settings and holds the address
// translation rules. Every setting has a default; a bad value is an error that
// names the file and line so start-up stops with a clear message.
package config

import (
	"regexp"
	"time"

	"github.com/hashicorp/hcl/v2"
)

// Config is the whole effective configuration of a server.
type Config struct {
	SIP             SIP
	HTTP            HTTP
	XML             XML
	Log             Log
	Limits          Limits
	API             API
	CDR             CDR
	Cluster         Cluster
	Translation     []Rule
	ShutdownTimeout time.Duration // shutdown_timeout: how long SIGTERM waits for calls to end
	MemoryLimit     int64         // memory_limit: Go's soft memory limit in bytes, set by serve; 0 = none (GOMEMLIMIT applies)
	File            string        // the file the settings came from ("" for defaults)
}

// SIP holds the sip { } block: the SIP user agent's addresses and call timers.
type SIP struct {
	IPAddress         string        // ip_address: bind address, "" = all interfaces (v4 and v6)
	DNSServers        []string      // dns_servers: overrides the OS resolvers; each "ip:port" (port 53 added when omitted)
	Identity          string        // identity: From of calls to the initiator (a SIP URI)
	UDPTCPPort        int           // udp_tcp_port
	TLSPort           int           // tls_port, 0 disables TLS
	TLSDomain         string        // tls_domain: this server's TLS name (Via/Contact of TLS requests, default file names)
	TLSCertFile       string        // tls_cert_file ("" with tls_domain: domain_cert_<tls_domain>.pem)
	TLSKeyFile        string        // tls_key_file ("" with tls_domain: domain_key_<tls_domain>.pem)
	TLSCAFile         string        // tls_ca_file: extra roots to verify peers ("" = system roots)
	KeepAlives        bool          // keepalives: CRLFCRLF on the TCP/TLS connections the server opens
	KeepAliveInterval time.Duration // keepalive_interval: between keepalives on one connection (80-100 % of it)
	OutboundProxy     string        // outbound_proxy (a SIP URI, "" = none)
	RingTimeout       time.Duration // ring_timeout: per leg, then CANCEL and 408
	ReferTimeout      time.Duration // refer_timeout: REFER answer / final NOTIFY wait
	DestinationFrom   string        // destination_from: "initiator" or "identity"
	AuthUsername      string        // auth_username: digest credentials for 401/407
	AuthPassword      string        // auth_password
	AutoAnswer        bool          // auto_answer: add Call-Info answer-after=0 to the initiator INVITE
	AssertIdentity    bool          // assert_identity: P-Asserted-Identity (RFC 3325) on every INVITE, naming its From
	MaxCallDuration   time.Duration // max_call_duration: anchored calls, 0 = none
	MaxMessageSize    int           // max_message_size: bytes, larger SIP messages are dropped
	// TransactionLinger is how long finished SIP transactions are kept to
	// absorb retransmissions (the encoded answer or ACK; Timers D, J and the
	// 2xx ACK window): transaction_linger.
	TransactionLinger time.Duration
}

// HTTP holds the http { } block.
type HTTP struct {
	Address        string        // address: bind address, "" = all interfaces
	Port           int           // port, 0 disables
	Auth           bool          // auth
	Password       string        // password (user is always "admin")
	AuthScheme     string        // auth_scheme: "digest" (default) or "basic"
	NonceLifetime  time.Duration // nonce_lifetime: digest nonces expire after this
	MaxConns       int           // max_connections
	MaxConnsPerIP  int           // max_connections_per_ip
	ReadTimeout    time.Duration // read_timeout
	IdleTimeout    time.Duration // idle_timeout
	MaxRequestSize int           // max_request_size: bytes, headers and body
	TLSCertFile    string        // tls_cert_file: with tls_key_file, serve HTTPS on port ("" = plain HTTP)
	TLSKeyFile     string        // tls_key_file
}

// XML holds the xml { } block.
type XML struct {
	Address        string        // address: bind address, "" = all interfaces
	Port           int           // port, 0 disables
	MaxRequestSize int           // max_request_size: bytes, larger requests get 413 and close
	MaxConns       int           // max_connections
	MaxConnsPerIP  int           // max_connections_per_ip
	IdleTimeout    time.Duration // idle_timeout: a connection with no request and no call is closed
	ReadTimeout    time.Duration // read_timeout: a request must arrive whole within this once begun, 0 = no limit
	TLSCertFile    string        // tls_cert_file: with tls_key_file, serve XML over TLS on port ("" = plain TCP)
	TLSKeyFile     string        // tls_key_file
}

// Log holds the log { } block.
type Log struct {
	Level    string // level: NONE|CRIT|ERR|WARNING|INFO|DEBUG|STACK
	File     string // file, "" = console only
	MaxLines int    // max_lines, then rotate to <file>.old; 0 = never
}

// Limits holds the limits { } block: admission control for new calls.
type Limits struct {
	MaxActiveCalls         int // max_active_calls, 0 = unlimited
	MaxCallsPerSecond      int // max_calls_per_second, 0 = unlimited
	MaxCallsPerSecondPerIP int // max_calls_per_second_per_ip, 0 = unlimited
	MaxCallsPerInitiator   int // max_calls_per_initiator: concurrent calls to one initiator, 0 = unlimited
	// OverloadLagTarget (overload_lag_target) is how late the server may
	// handle what arrives before it sheds new calls; 0 = no overload protection.
	OverloadLagTarget time.Duration
	// PeerDelayTarget (peer_delay_target) is how much later than usual the
	// SIP peers may answer before new calls are shed; 0 = their delay is
	// not watched. It acts only with overload protection on.
	PeerDelayTarget time.Duration
	// QueueTimeout (queue_timeout) is how long a new call may wait for its
	// turn while the server sheds load, instead of being refused; 0 = none.
	QueueTimeout time.Duration
}

// API holds the api { } block: the JSON API, its status callbacks and the
// operational endpoints served by the HTTP front end.
type API struct {
	StatusCallbackSecret     string        // status_callback_secret: HMAC-SHA256 key signing callbacks; "" refuses status_callback
	StatusCallbackTimeout    time.Duration // status_callback_timeout: one delivery attempt
	StatusCallbackAttempts   int           // status_callback_attempts: tries per result, then it is dropped
	StatusCallbackMaxPending int           // status_callback_max_pending: calls whose callbacks are being delivered at once
	CallRetention            time.Duration // call_retention: finished calls stay queryable this long
	MaxFinishedCalls         int           // max_finished_calls: finished calls kept at most, oldest dropped first
	IdempotencyWindow        time.Duration // idempotency_window: a repeated request_id returns the first call
	MaxRequestIDs            int           // max_request_ids: request_ids remembered at most, oldest dropped first
	EventsHeartbeat          time.Duration // events_heartbeat: comment line on idle event streams
	MetricsAuth              bool          // metrics_auth: /metrics needs the HTTP authentication too
	TraceCalls               int           // trace_calls: calls whose SIP message summaries are kept for their ladder; 0 = none
	// CallerIDs (caller_ids) are the regular expressions a per-call caller
	// ID's URI must match, each the whole URI; none (the default) refuses
	// every caller ID, so the API cannot present arbitrary numbers.
	CallerIDs []string
	// AllowedHeaders (allowed_headers) are the SIP header names a request
	// may add to its INVITEs besides X- headers.
	AllowedHeaders []string
	MaxRingTimeout time.Duration // max_ring_timeout: the longest per-leg ring timeout a request may ask for
	MaxTimeLimit   time.Duration // max_time_limit: the longest time_limit a request may ask for
}

// CDR holds the cdr { } block: call detail records, one JSON line per call.
type CDR struct {
	File     string // file, "" = no records
	MaxLines int    // max_lines, then rotate to <file>.old; 0 = never
}

// Cluster holds the cluster { } block: several nodes answering as one
// service (docs/cluster.md). Writing the block turns it on.
type Cluster struct {
	Enabled        bool          // enabled: true once the block is written; the shipped file says false
	Name           string        // name: nodes with the same name form one cluster
	Address        string        // address: this node's cluster address, host:port, reachable by the other nodes
	Provider       string        // provider: how nodes find each other; "etcd"
	EtcdEndpoints  []string      // etcd_endpoints: host:port of the etcd servers
	RequestTimeout time.Duration // request_timeout: how long a request waits for another node
}

// Rule is one translation { } block: the first rule whose Pattern matches
// replaces the whole input by Output.
type Rule struct {
	Pattern *regexp.Regexp
	Output  string    // with $N already rewritten to ${N}
	Range   hcl.Range // where the rule is written, for errors
}
