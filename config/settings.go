package config

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Setting is one effective setting as shown by `clicktocall check` and
// logged at start-up: Key is the HCL path ("sip.udp_tcp_port"), Value is
// written the way config.hcl would write it.
type Setting struct {
	Key   string
	Value string
}

// Settings lists every effective setting, secrets redacted, then one entry
// per translation rule ("translation[0]") giving its place in the file.
func (c *Config) Settings() []Setting {
	out := make([]Setting, 0, len(table)+len(c.Translation))
	for _, s := range table {
		out = append(out, Setting{Key: s.key, Value: s.show(c)})
	}
	for i, r := range c.Translation {
		out = append(out, Setting{
			Key: fmt.Sprintf("translation[%d]", i),
			Value: fmt.Sprintf("%s:%d pattern = %s output = %s",
				r.Range.Filename, r.Range.Start.Line, hclValue(r.Pattern.String()), hclValue(r.Output)),
		})
	}
	return out
}

// redactedText stands in for a secret that is set.
const redactedText = "(set, not shown)"

type redacted string

func hclValue(v any) string {
	switch v := v.(type) {
	case redacted:
		if v == "" {
			return `""`
		}
		return redactedText
	case string:
		return strconv.Quote(v)
	case []string:
		q := make([]string, len(v))
		for i, s := range v {
			q[i] = strconv.Quote(s)
		}
		return "[" + strings.Join(q, ", ") + "]"
	case time.Duration:
		return strconv.Quote(shortDuration(v))
	case byteSize:
		return strconv.Quote(formatSize(int64(v)))
	default:
		return fmt.Sprint(v)
	}
}

// shortDuration writes 60s as "1m" rather than time's "1m0s".
func shortDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}
