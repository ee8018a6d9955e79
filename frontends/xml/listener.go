package xml

import (
	"net"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/clicktocall/clicktocall/actors"
	"github.com/clicktocall/clicktocall/frontends/connlimit"
	"github.com/clicktocall/clicktocall/intake"
)

// Messages of the listener actor.
type (
	acceptedConn    struct{ conn net.Conn } // from the accept loop
	drainConns      struct{}                // Shutdown: finish the calls, then close
	forceCloseConns struct{}                // Shutdown's context ended: close now
)

// listenerActor admits connections against the connection limits and
// supervises one connection actor per admitted connection, releasing its
// place in the limits when the actor stops.
type listenerActor struct {
	s        *Server
	conns    map[string]string // connection actor id -> client IP
	limits   *connlimit.Counter
	draining bool
}

func newListenerActor(s *Server) *listenerActor {
	cfg := s.opts.Config
	return &listenerActor{s: s, conns: map[string]string{}, limits: connlimit.New(cfg.MaxConns, cfg.MaxConnsPerIP)}
}

func (l *listenerActor) Receive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case acceptedConn:
		l.admit(ctx, m.conn)
	case *actor.Terminated:
		if ip, ok := l.conns[m.Who.Id]; ok {
			delete(l.conns, m.Who.Id)
			l.limits.Release(ip)
		}
		l.checkDrained()
	case drainConns:
		l.draining = true
		for _, pid := range ctx.Children() {
			ctx.Send(pid, m)
		}
		l.checkDrained()
	case forceCloseConns:
		for _, pid := range ctx.Children() {
			ctx.Send(pid, m)
		}
	}
}

func (l *listenerActor) admit(ctx actor.Context, c net.Conn) {
	if l.draining {
		go refuse(c, intake.Of(actors.EndRefusedShutDown))
		return
	}
	cfg := l.s.opts.Config
	ip := connlimit.ClientIP(c)
	switch err := l.limits.Admit(ip); err {
	case nil: // admitted
	case connlimit.ErrTooManyFromIP:
		l.s.log.Warn("XML connection refused: too many connections from client", "client", c.RemoteAddr().String(), "max_connections_per_ip", cfg.MaxConnsPerIP)
		go refuse(c, &intake.Problem{Ending: actors.EndTooManyConnections, Text: "Too many connections from " + ip})
		return
	default:
		l.s.log.Warn("XML connection refused: too many connections", "client", c.RemoteAddr().String(), "max_connections", cfg.MaxConns)
		go refuse(c, &intake.Problem{Ending: actors.EndTooManyConnections, Text: "Too many connections"})
		return
	}
	pid := ctx.Spawn(actor.PropsFromProducer(func() actor.Actor { return newConnActor(l.s, c, ip) },
		actor.WithDispatcher(connDispatcher)))
	l.conns[pid.Id] = ip
}

func (l *listenerActor) checkDrained() {
	if l.draining && len(l.conns) == 0 {
		select {
		case <-l.s.drained:
		default:
			close(l.s.drained)
		}
	}
}

// refuse answers a connection that is not admitted with a 503 and closes it.
// It runs in its own goroutine: a client that does not read must not hold up
// the listener.
func refuse(c net.Conn, p *intake.Problem) {
	_ = c.SetDeadline(time.Now().Add(lingerTime))
	_, err := c.Write(appendResponse(nil, nil, result{code: p.Ending.XMLCode(), text: p.Text}))
	if err == nil {
		closeGracefully(c)
		return
	}
	c.Close()
}

// closeGracefully half-closes c and reads what the client still sends until
// it closes too or the read deadline passes. Closing with unread input would
// send a TCP reset, which can destroy the answer before the client reads it.
func closeGracefully(c net.Conn) {
	if cw, ok := c.(interface{ CloseWrite() error }); ok && cw.CloseWrite() == nil {
		buf := make([]byte, 4096)
		for {
			if _, err := c.Read(buf); err != nil {
				break
			}
		}
	}
	c.Close()
}

// connDispatcher runs a connection actor on the goroutine that posts to it:
// its reader for requests (which then starts the call right there), the
// call's goroutine for results. Protoactor's default starts a goroutine per
// mailbox run, and one that starts a call grows its stack anew each time: a
// measurable share of a call's CPU. The actor never blocks: the socket is
// written by its own writer goroutine.
var connDispatcher = actor.NewSynchronizedDispatcher(300)
