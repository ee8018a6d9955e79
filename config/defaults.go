package config

// Default returns the settings used when config.hcl says nothing: the
// defaults of the settings table, documented in the shipped config.hcl and
// docs/configuration.md. It has no translation rules, so every address is
// refused until rules are configured.
func Default() *Config {
	c := &Config{}
	for _, s := range table {
		s.def(c)
	}
	return c
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
