package config

import "time"

// Default returns the settings used when config.hcl says nothing: the values
// documented in the shipped config.hcl and docs/configuration.md. It has no translation
// rules, so every address is refused until rules are configured.
func Default() *Config {
	return &Config{
		SIP: SIP{
			IPAddress:         "",
			DNSServers:        []string{},
			Identity:          "sip:clicktocall@example.com",
			UDPTCPPort:        5072,
			TLSPort:           0, // TLS needs a certificate: off until one is configured
			KeepAlives:        true,
			KeepAliveInterval: 30 * time.Second,
			RingTimeout:       60 * time.Second,
			ReferTimeout:      32 * time.Second,
			DestinationFrom:   DestinationFromInitiator,
			MaxCallDuration:   0,
			MaxMessageSize:    65535,
			TransactionLinger: 32 * time.Second,
		},
		HTTP: HTTP{
			Port:           5090,
			AuthScheme:     AuthSchemeDigest,
			NonceLifetime:  5 * time.Minute,
			MaxConns:       10000,
			MaxConnsPerIP:  1000,
			ReadTimeout:    10 * time.Second,
			IdleTimeout:    60 * time.Second,
			MaxRequestSize: 16384,
			TLSCertFile:    "", // plain HTTP until a certificate is configured
			TLSKeyFile:     "",
		},
		XML: XML{
			Port:           5094,
			MaxRequestSize: 65536,
			MaxConns:       10000,
			MaxConnsPerIP:  1000,
			IdleTimeout:    0, // never: an XML client may wait silently for its call's results
			ReadTimeout:    10 * time.Second,
			TLSCertFile:    "", // plain TCP until a certificate is configured
			TLSKeyFile:     "",
		},
		Log: Log{
			Level:    "INFO",
			File:     "clicktocall.log",
			MaxLines: 50000,
		},
		Limits: Limits{
			MaxActiveCalls:    20000,
			OverloadLagTarget: 20 * time.Millisecond,
			QueueTimeout:      0, // refuse at once while shedding
		},
		API: API{
			StatusCallbackTimeout:    5 * time.Second,
			StatusCallbackAttempts:   5,
			StatusCallbackMaxPending: 1000,
			CallRetention:            10 * time.Minute,
			MaxFinishedCalls:         10000,
			IdempotencyWindow:        10 * time.Minute,
			MaxRequestIDs:            10000,
			EventsHeartbeat:          15 * time.Second,
			MetricsAuth:              true,
			TraceCalls:               1000,
			CallerIDs:                []string{}, // no caller ID is allowed until patterns are configured
			AllowedHeaders:           []string{},
			MaxRingTimeout:           2 * time.Minute,
			MaxTimeLimit:             4 * time.Hour,
		},
		CDR: CDR{
			File:     "",
			MaxLines: 50000,
		},
		Cluster: Cluster{
			Enabled:        false, // one node alone until a cluster { } block is written
			Name:           "clicktocall",
			Address:        "",
			Provider:       ClusterProviderEtcd,
			EtcdEndpoints:  []string{"127.0.0.1:2379"},
			RequestTimeout: 2 * time.Second,
		},
		Translation:     nil,
		ShutdownTimeout: 10 * time.Second,
		MemoryLimit:     0, // none: the runtime's default, or GOMEMLIMIT
	}
}

// Values of SIP.DestinationFrom and HTTP.AuthScheme, as normalised by Parse.
const (
	DestinationFromInitiator = "initiator" // the destination sees the initiator's address in From
	DestinationFromIdentity  = "identity"  // the destination sees sip.identity in From
	AuthSchemeDigest         = "digest"
	AuthSchemeBasic          = "basic"
	ClusterProviderEtcd      = "etcd" // the one Cluster.Provider: membership kept in etcd
)

// LogLevels are the accepted values of log.level, in the seed's order. Parse
// normalises the setting to one of these (upper case).
var LogLevels = []string{"NONE", "CRIT", "ERR", "WARNING", "INFO", "DEBUG", "STACK"}
