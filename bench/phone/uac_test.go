package phone

import (
	"context"
	"io"
	"log/slog"
	"net"
	"strconv"
	"testing"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"
)

// uac plays the click-to-call server's side: a plain sipgo user agent that calls the phone and
// receives its in-dialog requests (NOTIFY, BYE) on channels.
type uac struct {
	t        *testing.T
	tp       string
	ua       *sipgo.UserAgent
	dua      *sipgo.DialogUA
	notifies chan *sip.Request
	byes     chan *sip.Request
	acks     chan *sip.Request
	close    func()
}

const testOffer = "v=0\r\no=srv 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n" +
	"m=audio 30000 RTP/AVP 0 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:101 telephone-event/8000\r\na=inactive\r\n"

func newUAC(t *testing.T, tp string) *uac {
	t.Helper()
	u := newUACNoCleanup(t, tp)
	t.Cleanup(u.close)
	return u
}

func newUACNoCleanup(t *testing.T, tp string) *uac {
	t.Helper()
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	ua, err := sipgo.NewUA(sipgo.WithUserAgent("server"), sipgo.WithUserAgentHostname("127.0.0.1"),
		sipgo.WithUserAgentTransportLayerOptions(sip.WithTransportLayerLogger(quiet)),
		sipgo.WithUserAgentTransactionLayerOptions(sip.WithTransactionLayerLogger(quiet)))
	if err != nil {
		t.Fatal(err)
	}
	srv, err := sipgo.NewServer(ua, sipgo.WithServerLogger(quiet))
	if err != nil {
		t.Fatal(err)
	}
	client, err := sipgo.NewClient(ua, sipgo.WithClientHostname("127.0.0.1"), sipgo.WithClientLogger(quiet))
	if err != nil {
		t.Fatal(err)
	}
	u := &uac{t: t, tp: tp, ua: ua, notifies: make(chan *sip.Request, 100), byes: make(chan *sip.Request, 100), acks: make(chan *sip.Request, 100)}
	srv.OnNotify(func(req *sip.Request, tx sip.ServerTransaction) {
		u.notifies <- req // before the 200, which lets the phone send the next one
		_ = tx.Respond(sip.NewResponseFromRequest(req, 200, "OK", nil))
	})
	// In-dialog INVITEs from the phone: answer an offer, or offer when there is none.
	srv.OnInvite(func(req *sip.Request, tx sip.ServerTransaction) {
		res := sip.NewSDPResponseFromRequest(req, []byte(testOffer))
		res.AppendHeader(sip.HeaderClone(&u.dua.ContactHDR))
		_ = tx.Respond(res)
	})
	srv.OnAck(func(req *sip.Request, tx sip.ServerTransaction) { u.acks <- req })
	srv.OnBye(func(req *sip.Request, tx sip.ServerTransaction) {
		_ = tx.Respond(sip.NewResponseFromRequest(req, 200, "OK", nil))
		u.byes <- req
	})
	var port int
	var closer interface{ Close() error }
	switch tp {
	case "udp":
		conn, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		port = conn.LocalAddr().(*net.UDPAddr).Port
		closer = conn
		go func() { _ = srv.ServeUDP(conn) }()
	case "tcp":
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		port = ln.Addr().(*net.TCPAddr).Port
		closer = ln
		go func() { _ = srv.ServeTCP(ln) }()
	}
	contact := sip.ContactHeader{Address: sip.Uri{Scheme: "sip", User: "server", Host: "127.0.0.1", Port: port}}
	if tp == "tcp" {
		contact.Address.UriParams = sip.NewParams()
		contact.Address.UriParams.Add("transport", "tcp")
	}
	u.dua = &sipgo.DialogUA{Client: client, ContactHDR: contact}
	u.close = func() {
		_ = closer.Close()
		_ = ua.Close()
	}
	return u
}

// invite calls the phone with body (nil: offerless) and returns the dialog after the final
// response, plus every response seen.
func (u *uac) invite(ctx context.Context, p *Phone, body []byte, opts sipgo.AnswerOptions) (*sipgo.DialogClientSession, []*sip.Response, error) {
	req := sip.NewRequest(sip.INVITE, p.URI(u.tp))
	req.SetTransport(u.tp)
	if body != nil {
		req.SetBody(body)
		req.AppendHeader(sip.NewHeader("Content-Type", "application/sdp"))
	}
	dcs, err := u.dua.WriteInvite(ctx, req)
	if err != nil {
		return nil, nil, err
	}
	var got []*sip.Response
	inner := opts.OnResponse
	opts.OnResponse = func(res *sip.Response) error {
		got = append(got, res)
		if inner != nil {
			return inner(res)
		}
		return nil
	}
	err = dcs.WaitAnswer(ctx, opts)
	return dcs, got, err
}

func (u *uac) refer(ctx context.Context, dcs *sipgo.DialogClientSession, target string) *sip.Response {
	u.t.Helper()
	req := sip.NewRequest(sip.REFER, dcs.InviteResponse.Contact().Address)
	req.AppendHeader(sip.NewHeader("Refer-To", "<"+target+">"))
	req.AppendHeader(sip.NewHeader("Referred-By", "<sip:c2c@127.0.0.1>"))
	res, err := dcs.Do(ctx, req)
	if err != nil {
		u.t.Fatalf("REFER: %v", err)
	}
	return res
}

func (u *uac) nextNotify(ctx context.Context) *sip.Request {
	u.t.Helper()
	select {
	case n := <-u.notifies:
		return n
	case <-ctx.Done():
		u.t.Fatalf("no NOTIFY: %v", ctx.Err())
		return nil
	}
}

func newPhone(t *testing.T, cfg Config) *Phone {
	t.Helper()
	p, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Close() })
	return p
}

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func codes(rs []*sip.Response) []string {
	out := make([]string, len(rs))
	for i, r := range rs {
		out[i] = strconv.Itoa(r.StatusCode)
	}
	return out
}
