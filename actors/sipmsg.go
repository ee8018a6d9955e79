package actors

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/emiago/sipgo/sip"

	"github.com/clicktocall/clicktocall/transport/rfc3261"
)

// parseSipfrag reads the status code of a message/sipfrag body
// ("SIP/2.0 180 Ringing").
func parseSipfrag(body []byte) (int, error) {
	line := string(body)
	if i := strings.IndexAny(line, "\r\n"); i >= 0 {
		line = line[:i]
	}
	fields := strings.Fields(line)
	if len(fields) < 2 || !strings.HasPrefix(strings.ToUpper(fields[0]), "SIP/") {
		return 0, fmt.Errorf("sipfrag status line %q", line)
	}
	code, err := strconv.Atoi(fields[1])
	if err != nil || !rfc3261.ValidStatus(code) {
		return 0, fmt.Errorf("sipfrag status code %q", fields[1])
	}
	return code, nil
}

// userPart is the user of a SIP URI string ("" when it has none).
func userPart(uri string) string {
	var u sip.Uri
	if err := sip.ParseUri(uri, &u); err != nil {
		return ""
	}
	return u.User
}
