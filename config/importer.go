package config

import (
	"bytes"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/hashicorp/hcl/v2/hclwrite"
)

// originalSetting is where one setting of the original clicktocall.config
// goes in config.hcl.
type originalSetting struct {
	block, key string
	kind       valueKind
}

type valueKind int

const (
	kindString valueKind = iota
	kindInt
	kindBool // the original writes 1 / 0
	kindList // comma separated
)

// originalSettings maps the seed's setting names (lower case, since the
// original compared them case-insensitively) to config.hcl, in output order.
var originalSettings = []struct {
	name string
	originalSetting
}{
	{"ipaddress", originalSetting{"sip", "ip_address", kindString}},
	{"dnsservers", originalSetting{"sip", "dns_servers", kindList}},
	{"clicktocallidentity", originalSetting{"sip", "identity", kindString}},
	{"udptcpport", originalSetting{"sip", "udp_tcp_port", kindInt}},
	{"tlsport", originalSetting{"sip", "tls_port", kindInt}},
	{"tlsdomainname", originalSetting{"sip", "tls_domain", kindString}},
	{"keepalives", originalSetting{"sip", "keepalives", kindBool}},
	{"outboundproxy", originalSetting{"sip", "outbound_proxy", kindString}},
	{"httpport", originalSetting{"http", "port", kindInt}},
	{"httpauth", originalSetting{"http", "auth", kindBool}},
	{"httpauthpwd", originalSetting{"http", "password", kindString}},
	{"xmlrpcport", originalSetting{"xml", "port", kindInt}},
	{"loglevel", originalSetting{"log", "level", kindString}},
	{"logfilename", originalSetting{"log", "file", kindString}},
	{"logfilemaxlines", originalSetting{"log", "max_lines", kindInt}},
}

var importBlocks = []string{"sip", "http", "xml", "log"}

// ImportOriginal converts the original program's clicktocall.config (lines
// of "Name = value", # comments, names case-insensitive, values trimmed and
// optionally quoted, TranslationPattern/TranslationOutput pairs) into
// config.hcl text with the same meaning. Settings it does not know are
// skipped and reported in warnings, each with filename:line; malformed lines
// and unpaired translation settings are errors.
func ImportOriginal(src []byte, filename string) (hclText []byte, warnings []string, err error) {
	type value struct {
		text string // HCL expression
		line int
	}
	type rule struct {
		pattern, output string
		line            int
	}
	values := map[string]value{} // "block.key" → value
	var rules []rule
	var pending *rule // a TranslationPattern waiting for its output
	var errs []error
	fail := func(line int, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s:%d: %s", filename, line, fmt.Sprintf(format, args...)))
	}
	warn := func(line int, format string, args ...any) {
		warnings = append(warnings, fmt.Sprintf("%s:%d: %s", filename, line, fmt.Sprintf(format, args...)))
	}

	for i, raw := range strings.Split(string(src), "\n") {
		n := i + 1
		line := strings.TrimSpace(raw)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if !utf8.ValidString(line) {
			fail(n, "not valid UTF-8")
			continue
		}
		eq := strings.IndexByte(line, '=')
		if eq < 0 {
			fail(n, "expected Name = value, got %q", line)
			continue
		}
		name := strings.TrimSpace(line[:eq])
		val := unquote(strings.TrimSpace(line[eq+1:]))
		switch strings.ToLower(name) {
		case "translationpattern":
			if pending != nil {
				fail(n, "TranslationPattern follows the TranslationPattern of line %d, which has no TranslationOutput", pending.line)
			}
			if _, err := regexp.Compile(strings.TrimSpace(val)); err != nil {
				warn(n, "pattern %q is not valid Go (RE2) syntax and must be rewritten by hand: %v", val, err)
			}
			pending = &rule{pattern: val, line: n}
			continue
		case "translationoutput":
			if pending == nil {
				fail(n, "TranslationOutput without a TranslationPattern before it")
				continue
			}
			pending.output = val
			rules = append(rules, *pending)
			pending = nil
			continue
		}
		s, ok := lookupOriginal(name)
		if !ok {
			warn(n, "unknown setting %q skipped", name)
			continue
		}
		key := s.block + "." + s.key
		if prev, ok := values[key]; ok {
			warn(n, "%s repeats line %d; the last value is used", name, prev.line)
		}
		expr, err := hclExpr(s.kind, val)
		if err != nil {
			fail(n, "%s: %v", name, err)
			continue
		}
		if expr == "" {
			warn(n, "%s is empty; the default is kept", name)
			delete(values, key)
			continue
		}
		values[key] = value{text: expr, line: n}
	}
	if pending != nil {
		fail(pending.line, "TranslationPattern has no TranslationOutput after it")
	}
	if len(errs) > 0 {
		return nil, warnings, errors.Join(errs...)
	}

	var b bytes.Buffer
	fmt.Fprintf(&b, "# Converted from %s by clicktocall import-config.\n", hclComment(filename))
	b.WriteString("# Settings not written here keep their defaults; see the shipped config.hcl.\n")
	for _, block := range importBlocks {
		var body bytes.Buffer
		for _, s := range originalSettings {
			if s.block != block {
				continue
			}
			if v, ok := values[block+"."+s.key]; ok {
				fmt.Fprintf(&body, "  %s = %s\n", s.key, v.text)
			}
		}
		if body.Len() > 0 {
			fmt.Fprintf(&b, "\n%s {\n%s}\n", block, body.String())
		}
	}
	for _, r := range rules {
		fmt.Fprintf(&b, "\ntranslation { # %s:%d\n  pattern = %s\n  output = %s\n}\n",
			hclComment(filename), r.line, hclQuote(r.pattern), hclQuote(r.output))
	}
	return hclwrite.Format(b.Bytes()), warnings, nil
}

func lookupOriginal(name string) (originalSetting, bool) {
	name = strings.ToLower(name)
	for _, s := range originalSettings {
		if s.name == name {
			return s.originalSetting, true
		}
	}
	return originalSetting{}, false
}

// hclExpr writes an original value as an HCL expression ("" = empty value,
// keep the default; strings are kept even when empty).
func hclExpr(kind valueKind, val string) (string, error) {
	switch kind {
	case kindInt:
		if val == "" {
			return "", nil
		}
		n, err := strconv.Atoi(val)
		if err != nil {
			return "", fmt.Errorf("%q is not a whole number", val)
		}
		return strconv.Itoa(n), nil
	case kindBool:
		switch strings.ToLower(val) {
		case "":
			return "", nil
		case "1", "true", "yes", "on":
			return "true", nil
		case "0", "false", "no", "off":
			return "false", nil
		}
		return "", fmt.Errorf("%q is not 1 or 0", val)
	case kindList:
		var items []string
		for _, item := range strings.Split(val, ",") {
			if item = strings.TrimSpace(item); item != "" {
				items = append(items, hclQuote(item))
			}
		}
		return "[" + strings.Join(items, ", ") + "]", nil
	}
	return hclQuote(val), nil
}

// unquote drops one pair of matching surrounding quotes, as the original
// accepted Name = "value".
func unquote(v string) string {
	if len(v) >= 2 && (v[0] == '"' || v[0] == '\'') && v[len(v)-1] == v[0] {
		return v[1 : len(v)-1]
	}
	return v
}

// hclQuote writes s as an HCL quoted string whose value is exactly s:
// backslash and quote escaped, control characters as \uNNNN, and the
// template openers ${ and %{ doubled ($${, %%{) so they stay literal.
func hclQuote(s string) string {
	var b strings.Builder
	b.Grow(len(s) + 2)
	b.WriteByte('"')
	for i, r := range s {
		switch {
		case r == '\\':
			b.WriteString(`\\`)
		case r == '"':
			b.WriteString(`\"`)
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\r':
			b.WriteString(`\r`)
		case r == '\t':
			b.WriteString(`\t`)
		case (r == '$' || r == '%') && i+1 < len(s) && s[i+1] == '{':
			b.WriteRune(r)
			b.WriteRune(r)
		case r < 0x20 || r == 0x7f || r == utf8.RuneError:
			fmt.Fprintf(&b, `\u%04x`, r)
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
	return b.String()
}

// hclComment keeps a file name from ending the comment it is written in.
func hclComment(s string) string {
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return '?'
		}
		return r
	}, s)
}
