package main

import (
	"fmt"
	"io"
	"net"
	"net/netip"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/clicktocall/clicktocall/config"
)

// banner is what serve prints on stdout whatever the log level (none with
// -q): at start-up the version, the config file, every address the server
// listens on, the console's URL and where the log and the CDRs go; then one
// line per change of state (ready, draining, stopped), each with its time.
// The log file keeps the details; this is what a person at the terminal
// needs to know that the server runs and where to find it.
type banner struct {
	mu sync.Mutex
	w  io.Writer // nil: quiet
}

// listening is what the server bound, for the banner.
type listening struct {
	sip    []string // "udp 0.0.0.0:5072", ... (transport.Addrs)
	http   net.Addr // nil: HTTP is off
	tls    bool     // HTTPS
	xml    net.Addr // nil: XML is off
	xmlTLS bool
}

func (b *banner) printf(format string, args ...any) {
	if b.w == nil {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	fmt.Fprintf(b.w, format, args...)
}

// started prints the start-up lines.
func (b *banner) started(cfg *config.Config, l listening) {
	rows := [][2]string{{"config", absPath(cfg.File)}}
	if len(l.sip) > 0 {
		rows = append(rows, [2]string{"sip", strings.Join(l.sip, ", ")})
	}
	if l.http != nil {
		scheme := "http"
		if l.tls {
			scheme = "https"
		}
		rows = append(rows, [2]string{scheme, l.http.String()})
	} else {
		rows = append(rows, [2]string{"http", "off (http.port = 0)"})
	}
	if l.xml != nil {
		what := l.xml.String()
		if l.xmlTLS {
			what += " (TLS)"
		}
		rows = append(rows, [2]string{"xml", what})
	} else {
		rows = append(rows, [2]string{"xml", "off (xml.port = 0)"})
	}
	if l.http != nil {
		rows = append(rows, [2]string{"console", strings.Join(pageURLs(l.http, l.tls), "  ")})
	}
	logTo := "stderr only (log.file = \"\")"
	if cfg.Log.File != "" {
		logTo = absPath(cfg.Log.File) + ", level " + cfg.Log.Level + " (WARNING and worse also on stderr)"
	}
	rows = append(rows, [2]string{"log", logTo})
	cdrTo := "off (cdr.file = \"\")"
	if cfg.CDR.File != "" {
		cdrTo = absPath(cfg.CDR.File)
	}
	rows = append(rows, [2]string{"cdr", cdrTo})
	var s strings.Builder
	fmt.Fprintf(&s, "clicktocall %s\n", versionString())
	for _, r := range rows {
		fmt.Fprintf(&s, "  %-8s %s\n", r[0], r[1])
	}
	b.printf("%s", s.String())
}

// state prints one change of state with the time it happened.
func (b *banner) state(format string, args ...any) {
	b.printf("%s %s\n", time.Now().Format("15:04:05"), fmt.Sprintf(format, args...))
}

// pageURLs are the console's addresses: for a listener on all interfaces
// the one that works on this machine, localhost; for one bound to an
// address, that address.
func pageURLs(a net.Addr, tls bool) []string {
	scheme := "http"
	if tls {
		scheme = "https"
	}
	host, port, err := net.SplitHostPort(a.String())
	if err != nil {
		return []string{scheme + "://" + a.String() + "/"}
	}
	ip, err := netip.ParseAddr(host)
	if err == nil && ip.IsUnspecified() {
		host = "localhost"
	}
	return []string{scheme + "://" + net.JoinHostPort(host, port) + "/"}
}

func absPath(p string) string {
	if a, err := filepath.Abs(p); err == nil {
		return a
	}
	return p
}

// elapsed formats a start-up time: "35 ms".
func elapsed(d time.Duration) string {
	return strconv.FormatInt(d.Milliseconds(), 10) + " ms"
}
