package main

import (
	"errors"
	"io"
	"net"
	"strings"
	"testing"
	"time"
)

// Bad input to the XML interface of the binary: each request gets the
// result the behaviour spec and frontends/xml's package doc give it, and the
// connection stays usable after a request error, but not after input that
// cannot be read on (not XML, broken, too large).

// errorResponse is the response document to a request that failed: the
// request element as received (empty when there is none) and one result
// without a Leg.
func errorResponse(request, code, text string) string {
	if request == "" {
		request = "<Request></Request>"
	}
	return "<ClickToCall>\n" + request + "\n<Response>\n<Result Code=\"" + code + "\">" + text + "</Result>\n</Response>\n</ClickToCall>\n"
}

// readExactly reads len(want) bytes and compares them with want.
func readExactly(t *testing.T, conn net.Conn, want string) {
	t.Helper()
	_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	got := make([]byte, len(want))
	n, err := io.ReadFull(conn, got)
	if string(got[:n]) != want {
		t.Fatalf("read %q (%v),\nwant %q", got[:n], err, want)
	}
}

// expectClosed checks that the server closes the connection and sends
// nothing more.
func expectClosed(t *testing.T, conn net.Conn) {
	t.Helper()
	_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	rest, err := io.ReadAll(conn)
	if err != nil || len(rest) > 0 {
		t.Errorf("after the last response: %q, %v; want the connection closed", rest, err)
	}
}

// expectOpen checks that the connection is neither closed nor talking.
func expectOpen(t *testing.T, conn net.Conn) {
	t.Helper()
	_ = conn.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
	var b [1]byte
	n, err := conn.Read(b[:])
	var ne net.Error
	if n > 0 || !errors.As(err, &ne) || !ne.Timeout() {
		t.Errorf("connection read %q, %v; want it open and silent", b[:n], err)
	}
}

func TestXMLRequestErrorsAreAnsweredAndTheConnectionStaysUsable(t *testing.T) {
	t.Parallel()
	s := startServer(t, serverOptions{})
	conn := dialXML(t, s).conn
	missing := `<Request><Initiator>alice@local:5060</Initiator></Request>`
	noRule := `<Request><Initiator>hello world</Initiator><Destination>9055551234</Destination></Request>`
	badURI := `<Request><Initiator>sip:a b</Initiator><Destination>9055551234</Destination></Request>`
	duplicate := `<Request><Initiator>1</Initiator><Initiator>2</Initiator><Destination>3</Destination></Request>`
	// Written back to back in one write: each is answered, in order.
	in := `<Hello/>` + "\n" +
		`<ClickToCall><Status/></ClickToCall>` +
		"<ClickToCall>" + missing + "</ClickToCall>\n" +
		"<?xml version=\"1.0\"?>\n<ClickToCall version=\"1\">" + noRule + "</ClickToCall>\n" +
		"<clicktocall>" + badURI + "</clicktocall>" +
		"<ClickToCall>" + duplicate + "</ClickToCall>"
	if _, err := io.WriteString(conn, in); err != nil {
		t.Fatal(err)
	}
	readExactly(t, conn,
		errorResponse("", "400", "Unknown method")+
			errorResponse("", "400", "Unknown method")+
			errorResponse(missing, "400", "Missing initiator and/or destination tags")+
			errorResponse(noRule, "400", "No translation rule for hello world")+
			errorResponse(badURI, "400", "Invalid URI format sip:a b")+
			errorResponse(duplicate, "400", "Duplicate Initiator tag"))
	expectOpen(t, conn)

	// Still usable: one more request error on the same connection.
	escaped := `<Request><Initiator>&lt;x&gt; &amp;</Initiator><Destination>1</Destination></Request>`
	if _, err := io.WriteString(conn, "<ClickToCall>"+escaped+"</ClickToCall>"); err != nil {
		t.Fatal(err)
	}
	readExactly(t, conn, errorResponse(escaped, "400", "No translation rule for &lt;x&gt; &amp;"))
	expectOpen(t, conn)

	// A request over the 64 KiB limit gets 413 and the connection is closed.
	big := "<ClickToCall><Request><Initiator>" + strings.Repeat("1", 70<<10) + "</Initiator></Request></ClickToCall>"
	if _, err := io.WriteString(conn, big); err != nil {
		t.Fatal(err)
	}
	readExactly(t, conn, errorResponse("", "413", "Request too large"))
	expectClosed(t, conn)
}

func TestXMLUnreadableInputIsAParseErrorAndClosesTheConnection(t *testing.T) {
	t.Parallel()
	s := startServer(t, serverOptions{})
	for _, tc := range []struct{ name, in string }{
		{"a line of text", "hello\n"},
		{"a broken document", "<ClickToCall><Request></ClickToCall>"},
		{"an unsupported encoding", `<?xml version="1.0" encoding="ISO-8859-1"?><ClickToCall/>`},
		{"a document cut short", "<ClickToCall><Request><Initiator>1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			conn := dialXML(t, s).conn
			if _, err := io.WriteString(conn, tc.in); err != nil {
				t.Fatal(err)
			}
			if tc.name == "a document cut short" {
				_ = conn.(*net.TCPConn).CloseWrite()
			}
			readExactly(t, conn, errorResponse("", "400", "Parse error"))
			expectClosed(t, conn)
		})
	}
}
