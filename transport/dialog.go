package transport

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/emiago/sipgo/sip"
)

// Dialog is what RFC 3261 §12 keeps of a UAC dialog: enough to build the
// requests inside it. Requests and ACKs are built here, once, for every
// caller (the legs, and the transport's own clean-ups of unwanted dialogs).
type Dialog struct {
	from         *sip.FromHeader // ours, with our tag
	remoteTo     *sip.ToHeader   // theirs, with their tag
	callID       sip.CallIDHeader
	remoteTarget sip.Uri
	routeSet     []string
	cseq         uint32
	transport    string
}

// Dialogable reports whether a 2xx has what a dialog is built from (From,
// To, Call-ID, CSeq); a peer's malformed one is dropped, not trusted.
func Dialogable(ok *sip.Response) bool {
	return ok.From() != nil && ok.To() != nil && ok.CallID() != nil && ok.CSeq() != nil
}

// NewDialog is the dialog a 2xx to our INVITE created; see Dialogable. fallbackTarget is
// where in-dialog requests go when the 2xx has no Contact (the INVITE's
// Request-URI).
func NewDialog(ok *sip.Response, fallbackTarget sip.Uri) *Dialog {
	d := &Dialog{
		from:      sip.HeaderClone(ok.From()).(*sip.FromHeader),
		remoteTo:  sip.HeaderClone(ok.To()).(*sip.ToHeader),
		callID:    *ok.CallID(),
		cseq:      ok.CSeq().SeqNo,
		transport: ok.Transport(),
	}
	d.remoteTarget = fallbackTarget
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

// RemoteTag is the peer's To tag: it tells a retransmitted 2xx of this
// dialog from another fork's.
func (d *Dialog) RemoteTag() string { return tagOf(d.remoteTo.Params) }

// Transport is the transport the dialog's requests use.
func (d *Dialog) Transport() string { return d.transport }

// Request builds the next request of the dialog.
func (d *Dialog) Request(method sip.RequestMethod, contact *sip.ContactHeader) *sip.Request {
	d.cseq++
	return d.build(method, d.cseq, contact)
}

// ACK builds the ACK for the 2xx of the INVITE or re-INVITE with this CSeq.
func (d *Dialog) ACK(cseq uint32, body []byte) *sip.Request {
	req := d.build(sip.ACK, cseq, nil)
	SetSDP(req, body)
	return req
}

func (d *Dialog) build(method sip.RequestMethod, cseq uint32, contact *sip.ContactHeader) *sip.Request {
	req := sip.NewRequest(method, *d.remoteTarget.Clone())
	req.AppendHeader(sip.HeaderClone(d.from))
	req.AppendHeader(sip.HeaderClone(d.remoteTo))
	callID := d.callID
	req.AppendHeader(&callID)
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
	req.SetBody(nil)
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

// SetSDP puts an SDP body (or none) in req.
func SetSDP(req *sip.Request, body []byte) {
	if len(body) > 0 {
		// sipgo's ReplaceHeader adds nothing when the header is absent.
		req.RemoveHeader("Content-Type")
		req.AppendHeader(sip.NewHeader("Content-Type", "application/sdp"))
	}
	req.SetBody(body)
}

// CancelRequest builds the CANCEL of an INVITE (RFC 3261 §9.1): same
// Request-URI, Call-ID, From, To, Route and top Via, CSeq method CANCEL.
func CancelRequest(invite *sip.Request) *sip.Request {
	return inInviteTransaction(invite, sip.CANCEL, invite.To())
}

// nonSuccessACK is the ACK of a final response of 300 or more to an INVITE
// (RFC 3261 §17.1.1.3): part of the INVITE transaction, same top Via, with
// the response's To (its tag).
func nonSuccessACK(invite *sip.Request, res *sip.Response) *sip.Request {
	return inInviteTransaction(invite, sip.ACK, res.To())
}

// inInviteTransaction builds a request that belongs to the INVITE's own
// transaction: its Request-URI, top Via, From, Call-ID, CSeq number and
// Route, with method and To as given.
func inInviteTransaction(invite *sip.Request, method sip.RequestMethod, to *sip.ToHeader) *sip.Request {
	req := sip.NewRequest(method, *invite.Recipient.Clone())
	req.AppendHeader(sip.HeaderClone(invite.Via()))
	req.AppendHeader(sip.HeaderClone(invite.From()))
	req.AppendHeader(sip.HeaderClone(to))
	req.AppendHeader(sip.HeaderClone(invite.CallID()))
	req.AppendHeader(&sip.CSeqHeader{SeqNo: invite.CSeq().SeqNo, MethodName: method})
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

// ReasonHeader carries why the server ends a leg (RFC 3326).
func ReasonHeader(code int, text string) sip.Header {
	return sip.NewHeader("Reason", fmt.Sprintf("SIP ;cause=%d ;text=%q", code, text))
}

func tagOf(p sip.HeaderParams) string {
	t, _ := p.Get("tag")
	return t
}

// ToTag is the To tag of a message ("" without one).
func ToTag(m interface{ To() *sip.ToHeader }) string {
	if to := m.To(); to != nil {
		return tagOf(to.Params)
	}
	return ""
}

// BranchOf is the branch of a request's top Via ("" without one).
func BranchOf(req *sip.Request) string {
	if v := req.Via(); v != nil {
		b, _ := v.Params.Get("branch")
		return b
	}
	return ""
}
