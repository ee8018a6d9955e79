package config

import (
	"fmt"
	"net"
	"net/netip"
	"os"
	"regexp"
	"sort"
	"strings"

	"github.com/hashicorp/hcl/v2"
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
	cfg := Default()
	cfg.File = filename
	d := &decoder{attrs: map[string]hcl.Range{}, blocks: map[string]hcl.Range{}}
	if !d.decode(file.Body, cfg) {
		// A partly read file would only add misleading follow-on errors.
		return nil, &Error{Diags: d.diags}
	}
	d.checkTogether(cfg)
	if d.diags.HasErrors() {
		return nil, &Error{Diags: d.diags}
	}
	return cfg, nil
}

// decoder reads a file's attributes through the settings table, collecting
// every problem with the line of the attribute at fault.
type decoder struct {
	diags  hcl.Diagnostics
	attrs  map[string]hcl.Range // where each key set is written
	blocks map[string]hcl.Range // where each block is
	file   hcl.Range
}

// schemas are the attributes of each block ("" the top level), from the table.
func schemas() (top *hcl.BodySchema, blocks map[string]*hcl.BodySchema) {
	top = &hcl.BodySchema{Blocks: []hcl.BlockHeaderSchema{{Type: "translation"}}}
	blocks = map[string]*hcl.BodySchema{}
	for _, s := range table {
		block, name, found := strings.Cut(s.key, ".")
		if !found {
			top.Attributes = append(top.Attributes, hcl.AttributeSchema{Name: block})
			continue
		}
		if blocks[block] == nil {
			blocks[block] = &hcl.BodySchema{}
			top.Blocks = append(top.Blocks, hcl.BlockHeaderSchema{Type: block})
		}
		blocks[block].Attributes = append(blocks[block].Attributes, hcl.AttributeSchema{Name: name})
	}
	return top, blocks
}

// translationSchema is a translation { } block's.
var translationSchema = &hcl.BodySchema{Attributes: []hcl.AttributeSchema{
	{Name: "pattern", Required: true}, {Name: "output", Required: true},
}}

// decode reads body into cfg; false when its shape is wrong (unknown or
// repeated blocks and keys), which stops the reading.
func (d *decoder) decode(body hcl.Body, cfg *Config) bool {
	d.file = body.MissingItemRange()
	if sb, ok := body.(*hclsyntax.Body); ok {
		d.file = sb.SrcRange
	}
	topSchema, blockSchemas := schemas()
	top, diags := body.Content(topSchema)
	d.diags = append(d.diags, diags...)
	values := map[string]*hcl.Attribute{}
	for name, a := range top.Attributes {
		values[name] = a
	}
	for _, b := range top.Blocks {
		if b.Type == "translation" {
			content, diags := b.Body.Content(translationSchema)
			d.diags = append(d.diags, diags...)
			if !diags.HasErrors() {
				d.rule(b, content, cfg)
			}
			continue
		}
		if first, seen := d.blocks[b.Type]; seen {
			d.diags = append(d.diags, &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  fmt.Sprintf("Duplicate %s block", b.Type),
				Detail:   fmt.Sprintf("Only one %s block is allowed. Another was defined at %s.", b.Type, first.String()),
				Subject:  b.DefRange.Ptr(),
			})
			continue
		}
		d.blocks[b.Type] = b.DefRange
		if sb, ok := b.Body.(*hclsyntax.Body); ok {
			d.blocks[b.Type] = sb.SrcRange
		}
		content, diags := b.Body.Content(blockSchemas[b.Type])
		d.diags = append(d.diags, diags...)
		for name, a := range content.Attributes {
			values[b.Type+"."+name] = a
		}
	}
	if d.diags.HasErrors() {
		return false
	}
	if _, written := d.blocks["cluster"]; written {
		cfg.Cluster.Enabled = true // writing the block turns the cluster on
	}
	for _, s := range table {
		if a := values[s.key]; a != nil {
			d.attrs[s.key] = a.Range
			d.set(s, a, cfg)
		}
	}
	return true
}

// set evaluates one attribute and stores it through its table row.
func (d *decoder) set(s setting, a *hcl.Attribute, cfg *Config) {
	v, diags := a.Expr.Value(evalContext)
	d.diags = append(d.diags, diags...)
	if diags.HasErrors() {
		return
	}
	v, problem := convertTo(v, s.ty)
	if problem == "" {
		problem = s.set(cfg, v)
	}
	if problem != "" {
		d.fail(s.key, "%s", problem)
	}
}

// fail reports a problem with key, on the line where it is written (or its
// block, or the file, when it is not).
func (d *decoder) fail(key, format string, args ...any) {
	r, ok := d.attrs[key]
	if !ok {
		block, _, _ := strings.Cut(key, ".")
		if r, ok = d.blocks[block]; !ok {
			r = d.file
		}
	}
	d.diags = append(d.diags, &hcl.Diagnostic{
		Severity: hcl.DiagError,
		Summary:  "Invalid value for " + key,
		Detail:   fmt.Sprintf(format, args...),
		Subject:  &r,
	})
}

// checkTogether checks the settings that depend on each other.
func (d *decoder) checkTogether(cfg *Config) {
	d.sipTLS(&cfg.SIP)
	d.tlsPair("http", cfg.HTTP.TLSCertFile, cfg.HTTP.TLSKeyFile)
	d.tlsPair("xml", cfg.XML.TLSCertFile, cfg.XML.TLSKeyFile)
	if cfg.HTTP.Auth && cfg.HTTP.Password == "" {
		// Authentication with an empty password protects nothing; say so at start.
		d.fail("http.auth", "http.auth = true needs a non-empty http.password.")
	}
	if cl := cfg.Cluster; cl.Enabled {
		if cl.Address == "" {
			d.fail("cluster.address", "a cluster needs this node's address (host:port the other nodes reach it at).")
		}
		if _, given := d.attrs["cluster.etcd_endpoints"]; given && len(cl.EtcdEndpoints) == 0 {
			d.fail("cluster.etcd_endpoints", "the list is empty: give at least one etcd server.")
		}
	}
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

// sipTLS checks the TLS settings together. With tls_domain and no file names
// it takes the seed's convention, a certificate and key named for the domain
// in the working directory (domain_cert_<domain>.pem, domain_key_<domain>.pem).
func (d *decoder) sipTLS(s *SIP) {
	if s.TLSPort == 0 {
		return
	}
	if s.TLSPort == s.UDPTCPPort {
		d.fail("sip.tls_port", "%d is also sip.udp_tcp_port: TLS needs a TCP port of its own.", s.TLSPort)
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
		d.fail("sip.tls_port", "sip.tls_port = %d needs sip.tls_cert_file and sip.tls_key_file (or sip.tls_domain, for domain_cert_<domain>.pem and domain_key_<domain>.pem).", s.TLSPort)
	}
}

// tlsPair checks a front end's tls_cert_file and tls_key_file together:
// both turn TLS on, neither leaves the front end plain, and one alone is a
// mistake, reported on the line of the one that is set. The files are read
// at start (ServerTLS), like the SIP certificate.
func (d *decoder) tlsPair(block, cert, key string) {
	switch {
	case cert != "" && key == "":
		d.fail(block+".tls_cert_file", "%s.tls_cert_file needs %s.tls_key_file too (both set = TLS, both empty = plain).", block, block)
	case cert == "" && key != "":
		d.fail(block+".tls_key_file", "%s.tls_key_file needs %s.tls_cert_file too (both set = TLS, both empty = plain).", block, block)
	}
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

// rule reads one translation { } block.
func (d *decoder) rule(b *hcl.Block, content *hcl.BodyContent, cfg *Config) {
	var pattern, output string
	for name, dst := range map[string]*string{"pattern": &pattern, "output": &output} {
		a := content.Attributes[name]
		v, diags := a.Expr.Value(evalContext)
		d.diags = append(d.diags, diags...)
		if diags.HasErrors() {
			return
		}
		v, problem := convertTo(v, cty.String)
		if problem != "" {
			d.attrs["translation."+name] = a.Range
			d.fail("translation."+name, "%s", problem)
			return
		}
		*dst = strings.TrimSpace(v.AsString())
	}
	re, err := regexp.Compile(pattern)
	if err != nil {
		d.attrs["translation.pattern"] = content.Attributes["pattern"].Range
		d.fail("translation.pattern", "%q does not compile: %v.", pattern, err)
		return
	}
	cfg.Translation = append(cfg.Translation, Rule{Pattern: re, Output: rewriteOutput(output), Range: b.DefRange})
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
	top, blocks := schemas()
	out := map[string][]string{}
	for _, a := range top.Attributes {
		out[""] = append(out[""], a.Name)
	}
	for name, schema := range blocks {
		for _, a := range schema.Attributes {
			out[name] = append(out[name], a.Name)
		}
	}
	for _, a := range translationSchema.Attributes {
		out["translation"] = append(out["translation"], a.Name)
	}
	for _, names := range out {
		sort.Strings(names)
	}
	return out
}
