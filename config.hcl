# clicktocall configuration. Read once at start-up; restart to apply changes.
# Every setting below is shown with its default. Durations are Go duration
# strings ("500ms", "30s", "5m"). env("NAME", "default") reads an environment
# variable, so secrets need not be written here. Check a file with
#   clicktocall check -config config.hcl

sip {
  ip_address        = ""                             # IPAddress: bind address, "" = all interfaces (v4 and v6)
  dns_servers       = []                             # DNSServers: "ip" or "ip:port" list overriding the OS resolvers
  identity          = "sip:clicktocall@example.com"  # ClickToCallIdentity: From of calls to the initiator (a SIP URI)
  udp_tcp_port      = 5072                           # UDPTCPPort: SIP over UDP and TCP (1..65535)
  tls_port          = 0                              # TLSPort: SIP over TLS (TLS 1.2+), 0 disables; needs a certificate
  tls_domain        = ""                             # TLSDomainName: this server's TLS name, in Via/Contact of TLS requests
  tls_cert_file     = ""                             # certificate (PEM); "" with tls_domain: domain_cert_<tls_domain>.pem
  tls_key_file      = ""                             # private key (PEM); "" with tls_domain: domain_key_<tls_domain>.pem
  tls_ca_file       = ""                             # roots trusted to verify peers besides the system's, "" = system only
  keepalives        = true                           # KeepAlives: CRLFCRLF keepalives on TCP/TLS connections the server opens
  keepalive_interval = "30s"                         # between keepalives on one connection (each wait 80-100 % of it)
  outbound_proxy    = ""                             # OutboundProxy: SIP URI of a proxy for every request, "" = none
  ring_timeout      = "60s"                          # per leg: no answer by then -> CANCEL and 408
  refer_timeout     = "32s"                          # wait for the REFER answer and the final NOTIFY, then 408
  destination_from  = "initiator"                    # From of the anchored destination call: "initiator" or "identity"
  auth_username     = ""                             # digest credentials to answer 401/407 challenges
  auth_password     = ""                             # e.g. env("CLICKTOCALL_SIP_PASSWORD", "")
  auto_answer       = false                          # add Call-Info: <sip:host>;answer-after=0 to the initiator INVITE
  assert_identity   = false                          # add P-Asserted-Identity (the From's party) to every INVITE
  max_call_duration = "0s"                           # anchored calls are ended (BYE) after this, "0s" = no limit; time_limit may shorten it
  max_message_size  = 65535                          # bytes; larger SIP messages are dropped
  transaction_linger = "32s"                         # answers and ACKs kept to absorb retransmissions (RFC 3261: 64*T1), a few hundred bytes each
}

http {
  address                = ""         # bind address, "" = all interfaces (v4 and v6)
  port                   = 5090       # HttpPort: 0 disables the HTTP interface
  auth                   = false      # HttpAuth: require HTTP Digest authentication (user "admin")
  password               = ""         # HttpAuthPwd, e.g. env("CLICKTOCALL_HTTP_PASSWORD"); required when auth = true
  auth_scheme            = "digest"   # "digest" (RFC 7616, SHA-256 and MD5) or "basic" for legacy clients
  nonce_lifetime         = "5m"       # digest nonces expire after this (then stale=true)
  max_connections        = 10000      # open connections, 0 = no limit
  max_connections_per_ip = 1000       # open connections from one client address, 0 = no limit
  read_timeout           = "10s"      # a request must arrive whole within this
  idle_timeout           = "60s"      # keep-alive connections idle this long are closed
  max_request_size       = 16384      # bytes, headers and body
  tls_cert_file          = ""         # certificate chain (PEM): with tls_key_file, HTTPS (TLS 1.2+) on port instead of HTTP; both "" = plain HTTP
  tls_key_file           = ""         # private key (PEM) of tls_cert_file
}

xml {
  address                = ""         # bind address, "" = all interfaces (v4 and v6)
  port                   = 5094       # XmlRpcPort: 0 disables the XML interface
  max_request_size       = 65536      # bytes; a larger request gets 413 and the connection is closed
  max_connections        = 10000      # open connections, 0 = no limit
  max_connections_per_ip = 1000       # open connections from one client address, 0 = no limit
  idle_timeout           = "0s"       # close a connection with no request and no call for this long, "0s" = never
  read_timeout           = "10s"      # a request must arrive whole within this once it has begun (then 408 and close), "0s" = no limit
  tls_cert_file          = ""         # certificate chain (PEM): with tls_key_file, XML over TLS (TLS 1.2+) on port; both "" = plain TCP
  tls_key_file           = ""         # private key (PEM) of tls_cert_file
}

log {
  level     = "INFO"              # LogLevel: NONE|CRIT|ERR|WARNING|INFO|DEBUG|STACK (WARNING and worse also on stderr)
  file      = "clicktocall.log"   # LogFilename, "" = console only
  max_lines = 50000               # LogFileMaxLines: then rotate to <file>.old (one backup); 0 = never
}

limits {
  max_active_calls            = 20000   # calls in progress; more are refused with 503, 0 = no limit
  max_calls_per_second        = 0       # new calls per second, 0 = no limit
  max_calls_per_second_per_ip = 0       # new calls per second from one client address, 0 = no limit
  max_calls_per_initiator     = 0       # concurrent calls to one initiator URI, 0 = no limit
  overload_lag_target         = "20ms"  # shed new calls (503, Retry-After) while SIP is handled later than this; "0s" = never
  peer_delay_target           = "5ms"   # shed too while the SIP peers answer later than usual by 4x this (then hold them at it); "0s" = do not watch them
  queue_timeout               = "0s"    # while shedding, a new call may wait this long for its turn instead of a 503; "0s" = no queue
}

api {
  status_callback_secret      = ""      # HMAC-SHA256 key signing status callbacks, e.g. env("CLICKTOCALL_CALLBACK_SECRET"); "" refuses status_callback
  status_callback_timeout     = "5s"    # one delivery attempt of a status callback
  status_callback_attempts    = 5       # tries per result (backoff 1s, 2s, 4s, ... at most 30s), then the result is dropped
  status_callback_max_pending = 1000    # calls whose callbacks are being delivered at once; more get 503
  call_retention              = "10m"   # finished calls stay visible in GET /api/v1/calls/{id} this long
  max_finished_calls          = 10000   # finished calls kept at most; the oldest are dropped first
  idempotency_window          = "10m"   # a POST repeating a request_id within this returns the first call
  max_request_ids             = 10000   # request_ids remembered at most; the oldest are forgotten first
  events_heartbeat            = "15s"   # comment line sent on idle event streams (SSE)
  metrics_auth                = true    # /metrics needs the http authentication too; false lets scrapers in without
  trace_calls                 = 1000    # last calls whose SIP messages (summaries, no bodies) the console's ladder shows; 0 = none
  caller_ids                  = []      # regexps a per-call caller ID's URI must match whole, e.g. ["sip:\\+1555\\d{7}@example\\.com"]; [] = none allowed
  allowed_headers             = []      # header names requests may add to INVITEs besides X-..., e.g. ["Call-Info", "Alert-Info"]
  max_ring_timeout            = "2m"    # longest per-leg ring timeout a request may ask for
  max_time_limit              = "4h"    # longest time_limit a request may ask for
}

cdr {
  file      = ""        # call detail records, one JSON line per finished call, e.g. "clicktocall.cdr"; "" = none
  max_lines = 50000     # then rotate to <file>.old (one backup); 0 = never
}

# Several nodes answering as one service (docs/cluster.md). Writing the block
# turns the cluster on; here enabled = false keeps this node alone.
cluster {
  enabled         = false               # true (or leave it out) to join the cluster below
  name            = "clicktocall"       # nodes with the same name form one cluster
  address         = ""                  # this node's cluster address (gRPC), host:port the other nodes reach; required
  provider        = "etcd"              # how nodes find each other: "etcd"
  etcd_endpoints  = ["127.0.0.1:2379"]  # etcd servers, host:port
  request_timeout = "2s"                # how long a request waits for another node before it answers 503
}

shutdown_timeout = "10s"   # on SIGTERM/SIGINT: wait this long for calls to end before exiting
memory_limit     = "0"     # Go's soft memory limit ("1536MiB", "2GiB", "1500MB", bytes); "0" = none; about 75 % of the memory the process may use

# Address translation (TranslationPattern / TranslationOutput): rules are tried
# top-down and the first whose pattern (Go RE2 syntax) matches replaces the
# WHOLE address by its output; $1..$9 are the pattern's groups (so "$1x" is
# group 1 then "x"), $$ is a "$", and a named group (?P<user>...) is "$${user}".
# In HCL strings write a regex backslash twice ("\\d") and a literal "${" as "$${".
# See what a rule set does with: clicktocall translate 9055551234

translation {   # SIP and SIPS URIs pass through unchanged
  pattern = "^(sips?:.+)$"
  output  = "$1"
}

translation {   # digits only: a number at the gateway domain
  pattern = "^(\\d+)$"
  output  = "sip:$1@example.com"
}

translation {   # user@host becomes a SIP URI
  pattern = "^([^@:\\s]+@[^@\\s]+)$"
  output  = "sip:$1"
}
