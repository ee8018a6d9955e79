package config

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"

	"github.com/emiago/sipgo/sip"
)

// ErrNoTranslationRule is wrapped by Translate's error when no rule matches.
var ErrNoTranslationRule = errors.New("no translation rule")

// ErrInvalidURI is wrapped by Translate's error when the matching rule's
// output is not a usable SIP or SIPS URI.
var ErrInvalidURI = errors.New("invalid URI format")

// TranslationError is the error Translate returns. Its text is what the
// front ends put in their 400 answers, so it is fixed: "No translation rule
// for <input>" or "Invalid URI format <result>". Why a URI was refused is in
// Reason, for logs.
type TranslationError struct {
	Kind   error  // ErrNoTranslationRule or ErrInvalidURI
	Input  string // the address as given
	Result string // the rule's output (ErrInvalidURI only)
	Reason error  // why Result is not a valid URI (ErrInvalidURI only)
}

func (e *TranslationError) Error() string {
	if e.Kind == ErrInvalidURI {
		return "Invalid URI format " + e.Result
	}
	return "No translation rule for " + e.Input
}

// Unwrap lets errors.Is find ErrNoTranslationRule or ErrInvalidURI.
func (e *TranslationError) Unwrap() error { return e.Kind }

// Translate turns an initiator or destination as a client wrote it into the
// SIP URI to call. Rules are tried in order; the first whose pattern matches
// anywhere in address replaces the WHOLE address by its output, with ${N}
// (and ${name}) expanded from that match. The result must be a valid sip: or
// sips: URI with a host.
func Translate(rules []Rule, address string) (string, error) {
	for i := range rules {
		r := &rules[i]
		m := r.Pattern.FindStringSubmatchIndex(address)
		if m == nil {
			continue
		}
		uri := string(r.Pattern.ExpandString(nil, r.Output, address, m))
		if err := ValidateSIPURI(uri); err != nil {
			return "", &TranslationError{Kind: ErrInvalidURI, Input: address, Result: uri, Reason: err}
		}
		return uri, nil
	}
	return "", &TranslationError{Kind: ErrNoTranslationRule, Input: address}
}

// ValidateSIPURI reports why s is not a sip: or sips: URI fit to put in a
// Request-URI, From or To: it must parse (sipgo's parser), have a host and a
// port in range, and carry no whitespace, control, non-ASCII or header
// delimiter characters. The last check matters because the URI is written
// into SIP headers between < >: a translated address must not be able to
// inject header text.
func ValidateSIPURI(s string) error {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c <= ' ' || c >= 0x7f || strings.IndexByte(`<>"\{}|^`+"`", c) >= 0 {
			return fmt.Errorf("character %q at offset %d is not allowed in a SIP URI", c, i)
		}
	}
	var u sip.Uri
	if err := sip.ParseUri(s, &u); err != nil {
		return fmt.Errorf("parse %q: %w", s, err)
	}
	if u.Scheme != "sip" && u.Scheme != "sips" {
		return fmt.Errorf("scheme %q is not sip or sips", u.Scheme)
	}
	if u.Host == "" || u.Wildcard {
		return fmt.Errorf("%q has no host", s)
	}
	if strings.HasPrefix(u.Host, "[") {
		// sipgo only looks for the closing bracket; the address inside must be IPv6.
		a, err := netip.ParseAddr(strings.TrimSuffix(u.Host[1:], "]"))
		if err != nil || !a.Is6() || !strings.HasSuffix(u.Host, "]") {
			return fmt.Errorf("host %q is not a bracketed IPv6 address", u.Host)
		}
	} else if strings.ContainsAny(u.Host, "@:[]") {
		return fmt.Errorf("host %q is malformed", u.Host)
	}
	if u.Port < 0 || u.Port > 65535 {
		return fmt.Errorf("port %d is out of range", u.Port)
	}
	return nil
}

// rewriteOutput turns the seed's $N (one digit) into Go's ${N}, so that
// "$1x" keeps meaning group 1 followed by "x" instead of Go's group "1x".
// "$$" (a literal $) and "${name}" are left as they are.
func rewriteOutput(out string) string {
	if !strings.Contains(out, "$") {
		return out
	}
	var b strings.Builder
	b.Grow(len(out) + 8)
	for i := 0; i < len(out); i++ {
		c := out[i]
		if c != '$' || i+1 >= len(out) {
			b.WriteByte(c)
			continue
		}
		next := out[i+1]
		switch {
		case next == '$':
			b.WriteString("$$")
			i++
		case next >= '0' && next <= '9':
			b.WriteString("${")
			b.WriteByte(next)
			b.WriteByte('}')
			i++
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}
