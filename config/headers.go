package config

import "strings"

// IsHeaderName reports whether s is a SIP header name: an RFC 3261 token.
func IsHeaderName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case strings.IndexByte("-.!%*_+`'~", c) >= 0:
		default:
			return false
		}
	}
	return true
}

// reservedHeaders are written by the server (or the transport) and make or
// route the dialog; a request adding one would break the call or, for the
// identity headers, present an identity api.caller_ids never allowed.
var reservedHeaders = []string{
	"Via", "From", "To", "Call-ID", "CSeq", "Contact", "Max-Forwards", "Route", "Record-Route",
	"Content-Length", "Content-Type", "Content-Encoding", "Allow", "Require", "Proxy-Require",
	"Supported", "Authorization", "Proxy-Authorization", "P-Asserted-Identity", "P-Preferred-Identity",
	"Identity", "Refer-To", "Referred-By", "Event", "Subscription-State", "Reason", "Expires",
}

// ReservedHeader reports whether a request may never add a header of this
// name, whatever api.allowed_headers says: the ones the server writes, and
// every one-letter compact form (RFC 3261 7.3.3), which may stand for one of them.
func ReservedHeader(name string) bool {
	if len(name) == 1 {
		return true
	}
	for _, r := range reservedHeaders {
		if strings.EqualFold(name, r) {
			return true
		}
	}
	return false
}
