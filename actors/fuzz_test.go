package actors

import (
	"bytes"
	"strconv"
	"strings"
	"testing"

	"github.com/pion/sdp/v3"
)

// FuzzParseSipfrag feeds arbitrary NOTIFY bodies to the sipfrag parser: it
// never panics, and a code it returns is a SIP status (100..699) written as
// the second field of a "SIP/..." first line. Seeds: testdata/fuzz/FuzzParseSipfrag.
func FuzzParseSipfrag(f *testing.F) {
	f.Add([]byte("SIP/2.0 200 OK\r\n"))
	f.Fuzz(func(t *testing.T, body []byte) {
		code, err := parseSipfrag(body)
		if err != nil {
			if code != 0 {
				t.Fatalf("error %v with code %d", err, code)
			}
			return
		}
		if code < 100 || code > 699 {
			t.Fatalf("code %d out of range for %q", code, body)
		}
		line := string(body)
		if i := strings.IndexAny(line, "\r\n"); i >= 0 {
			line = line[:i]
		}
		fields := strings.Fields(line)
		if len(fields) < 2 || !strings.HasPrefix(strings.ToUpper(fields[0]), "SIP/") {
			t.Fatalf("accepted %q without a SIP status line", body)
		}
		if n, _ := strconv.Atoi(fields[1]); n != code {
			t.Fatalf("code %d, status line says %q", code, fields[1])
		}
	})
}

// FuzzSDPRewrite feeds arbitrary bodies to the SDP rewrite used on every
// anchored call. It never panics; when it accepts a body, the result parses
// again, carries this leg's session id with a version one higher than the
// last, keeps the far phone's media and connection address, and a second
// rewrite of it changes only the version (once pion has normalised it). Seeds: testdata/fuzz/FuzzSDPRewrite.
func FuzzSDPRewrite(f *testing.F) {
	f.Add([]byte(rawSDP))
	f.Fuzz(func(t *testing.T, body []byte) {
		s := newSDPSession("127.0.0.1")
		s.placeholder()
		before := s.version
		var in sdp.SessionDescription
		if in.Unmarshal(body) == nil && (in.Origin.UnicastAddress == "" || len(in.MediaDescriptions) == 0) {
			// pion accepts bodies with no origin or no media ("", "0"):
			// nothing to bridge, rewrite must refuse them.
			if _, err := s.rewrite(body); err == nil {
				t.Fatalf("rewrite accepted %q, which has no origin or no media", body)
			}
			return
		}
		out, err := s.rewrite(body)
		if err != nil {
			return
		}
		var got sdp.SessionDescription
		if err := got.Unmarshal(out); err != nil {
			t.Fatalf("rewritten SDP does not parse: %v\ninput %q\noutput %q", err, body, out)
		}
		if got.Origin.SessionID != s.id || got.Origin.SessionVersion != before+1 {
			t.Fatalf("origin %d/%d, want %d/%d", got.Origin.SessionID, got.Origin.SessionVersion, s.id, before+1)
		}
		if len(got.MediaDescriptions) != len(in.MediaDescriptions) {
			t.Fatalf("%d media, input had %d", len(got.MediaDescriptions), len(in.MediaDescriptions))
		}
		for i, m := range in.MediaDescriptions {
			if g := got.MediaDescriptions[i]; g.MediaName.String() != m.MediaName.String() {
				t.Fatalf("media %d is %q, input had %q", i, g.MediaName.String(), m.MediaName.String())
			}
		}
		if (got.ConnectionInformation == nil) != (in.ConnectionInformation == nil) ||
			(in.ConnectionInformation != nil && got.ConnectionInformation.String() != in.ConnectionInformation.String()) {
			t.Fatalf("connection %v, input had %v", got.ConnectionInformation, in.ConnectionInformation)
		}
		again, err := s.rewrite(out)
		if err != nil {
			t.Fatalf("second rewrite failed: %v", err)
		}
		got.Origin.SessionVersion = before + 2
		if want, err := got.Marshal(); err != nil || !bytes.Equal(again, want) {
			t.Fatalf("second rewrite changed more than the version (%v):\n%q\n%q", err, out, again)
		}
	})
}
