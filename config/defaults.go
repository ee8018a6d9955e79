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

// OrDefault is v, or def when v is zero or negative: how a package fills the
// fields of a hand-built config or options its caller left unset, def being
// the field's default in Default().
func OrDefault[T ~int | ~int64](v, def T) T {
	if v <= 0 {
		return def
	}
	return v
}
