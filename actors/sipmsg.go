package actors

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/emiago/sipgo/sip"
)

// dialogState is what RFC 3261 §12 keeps for a UAC dialog: enough to build
// requests inside it.
type dialogState struct {
	invite       *sip.Request // our INVITE (From carries our tag)
	remoteTo     *sip.ToHeader
	remoteTarget sip.Uri
	routeSet     []string
	cseq         uint32
	transport    string
}

func newDialogState(invite *sip.Request, ok *sip.Response) *dialogState {
	d := &dialogState{invite: invite, cseq: invite.CSeq().SeqNo, transport: invite.Transport()}
	d.remoteTo = sip.HeaderClone(ok.To()).(*sip.ToHeader)
	d.remoteTarget = invite.Recipient
	if c := ok.Contact(); c != nil {
		d.remoteTarget = *c.Address.Clone()
	}
	rr := ok.GetHeaders("Record-Route")
	for i := len(rr) - 1; i >= 0; i-- {
		d.routeSet = append(d.routeSet, rr[i].Value())
	}
	if len(d.routeSet) == 0 {
		// Without a route, in-dialog requests go to the Contact as it says.
		if tp, ok := d.remoteTarget.UriParams.Get("transport"); ok && tp != "" {
			d.transport = strings.ToUpper(tp)
		}
		if d.remoteTarget.Scheme == "sips" {
			d.transport = "TLS"
		}
	}
	return d
}

// request builds the next request of the dialog.
func (d *dialogState) request(method sip.RequestMethod, contact *sip.ContactHeader) *sip.Request {
	d.cseq++
	return d.build(method, d.cseq, contact)
}

// ack builds the ACK for the 2xx of the INVITE or re-INVITE with this CSeq.
func (d *dialogState) ack(cseq uint32, body []byte) *sip.Request {
	req := d.build(sip.ACK, cseq, nil)
	setBody(req, body)
	return req
}

func (d *dialogState) build(method sip.RequestMethod, cseq uint32, contact *sip.ContactHeader) *sip.Request {
	req := sip.NewRequest(method, *d.remoteTarget.Clone())
	req.AppendHeader(sip.HeaderClone(d.invite.From()))
	req.AppendHeader(sip.HeaderClone(d.remoteTo))
	req.AppendHeader(sip.HeaderClone(d.invite.CallID()))
	req.AppendHeader(&sip.CSeqHeader{SeqNo: cseq, MethodName: method})
	maxFwd := sip.MaxForwardsHeader(70)
	req.AppendHeader(&maxFwd)
	for _, r := range d.routeSet {
		req.AppendHeader(sip.NewHeader("Route", r))
	}
	if contact != nil {
		req.AppendHeader(sip.HeaderClone(contact))
	}
	req.SetTransport(d.transport)
	if len(d.routeSet) == 0 {
		req.SetDestination(hostPort(d.remoteTarget, d.transport))
	}
	return req
}

// hostPort is where a request to u goes when no route says otherwise.
func hostPort(u sip.Uri, transport string) string {
	port := u.Port
	if port == 0 {
		port = sip.DefaultPort(transport)
	}
	return u.Host + ":" + strconv.Itoa(port)
}

func setBody(req *sip.Request, body []byte) {
	if len(body) > 0 {
		// sipgo's ReplaceHeader adds nothing when the header is absent.
		req.RemoveHeader("Content-Type")
		req.AppendHeader(sip.NewHeader("Content-Type", "application/sdp"))
	}
	req.SetBody(body)
}

// cancelRequest builds the CANCEL of an INVITE (RFC 3261 §9.1): same
// Request-URI, Call-ID, From, To, Route and top Via, CSeq method CANCEL.
func cancelRequest(invite *sip.Request) *sip.Request {
	req := sip.NewRequest(sip.CANCEL, *invite.Recipient.Clone())
	req.AppendHeader(sip.HeaderClone(invite.Via()))
	req.AppendHeader(sip.HeaderClone(invite.From()))
	req.AppendHeader(sip.HeaderClone(invite.To()))
	req.AppendHeader(sip.HeaderClone(invite.CallID()))
	req.AppendHeader(&sip.CSeqHeader{SeqNo: invite.CSeq().SeqNo, MethodName: sip.CANCEL})
	maxFwd := sip.MaxForwardsHeader(70)
	req.AppendHeader(&maxFwd)
	for _, r := range invite.GetHeaders("Route") {
		req.AppendHeader(sip.HeaderClone(r))
	}
	req.SetTransport(invite.Transport())
	req.SetDestination(invite.Destination())
	req.SetBody(nil)
	return req
}

// reasonHeader carries why the server ends a leg (RFC 3326).
func reasonHeader(code int, text string) sip.Header {
	return sip.NewHeader("Reason", fmt.Sprintf("SIP ;cause=%d ;text=%q", code, text))
}

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
	if err != nil || code < 100 || code > 699 {
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
