// Package actors holds the call logic: the Engine admits click-to-call
// requests and runs each as a CallSupervisor actor whose children are the
// initiator and destination legs. Front ends see only CallStarter; the SIP
// wire is package transport.
package actors

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/emiago/sipgo/sip"
	"github.com/google/uuid"
	"golang.org/x/time/rate"

	"github.com/clicktocall/clicktocall/config"
	"github.com/clicktocall/clicktocall/config/logging"
	"github.com/clicktocall/clicktocall/transport"
	"github.com/clicktocall/clicktocall/transport/timing"
)

// Observer is told about the life of every call, for metrics, CDRs and the
// API. Its methods are called from call actors and must not block.
type Observer interface {
	// InviteSent: the INVITE to the initiator has gone out.
	InviteSent(callID string, req CallRequest, at time.Time)
	// Result: every result the call's subscriber gets, the final included.
	Result(req CallRequest, p Progress)
	// Fallback: the initiator refused the REFER (or never answered it) and
	// the call goes on anchored.
	Fallback(callID string, req CallRequest)
	// CallEnded: the call's actors are gone and both legs have ended; for a
	// connected anchored call that is when a phone hung up.
	CallEnded(callID string, at time.Time)
}

// callSettings are the engine-wide settings every call reads.
type callSettings struct {
	tr                       *transport.Transport
	identity                 sip.Uri
	ringTimeout              time.Duration
	referTimeout             time.Duration
	maxCallDuration          time.Duration
	destinationFromInitiator bool
	assertIdentity           bool // P-Asserted-Identity on every INVITE, naming its From
	autoAnswer               bool
	authUsername             string
	authPassword             string
	observer                 Observer
	clock                    timing.Clock
	tracer                   CallTracer // nil: no call ladders
}

func (s *callSettings) observe(req CallRequest, p Progress) {
	if s.observer != nil {
		s.observer.Result(req, p)
	}
}

func (s *callSettings) observeFallback(id string, req CallRequest) {
	if s.observer != nil {
		s.observer.Fallback(id, req)
	}
}

func (s *callSettings) observeInvite(id string, req CallRequest, at time.Time) {
	if s.observer != nil {
		s.observer.InviteSent(id, req, at)
	}
}

// NewActorSystem is the process's actor system, logging through log.
// Dead letters are routine here (a timer firing for a call that ended), so
// protoactor's own records below WARNING are dropped.
func NewActorSystem(log *slog.Logger) *actor.ActorSystem {
	quiet := logging.AtLeast(log, slog.LevelWarn).With("lib", "protoactor")
	return actor.NewActorSystem(actor.WithLoggerFactory(func(*actor.ActorSystem) *slog.Logger { return quiet }))
}

// Engine admits calls and owns every running CallSupervisor.
type Engine struct {
	system   *actor.ActorSystem
	settings *callSettings
	limits   config.Limits
	log      *slog.Logger

	mu        sync.Mutex
	calls     map[string]*actor.PID
	perInit   map[string]int
	stopping  bool
	drained   chan struct{} // closed when stopping and no call is left
	rate      *rate.Limiter
	perIPRate map[string]*ipRate
	active    atomic.Int64
	gov       *governor              // overload protection; nil when off
	queued    map[string]*queuedCall // admitted, waiting for their turn (limits.queue_timeout)
}

// EngineOptions configures an Engine.
type EngineOptions struct {
	SIP       config.SIP
	Limits    config.Limits
	Transport *transport.Transport
	Logger    *slog.Logger
	Observer  Observer   // nil: none
	Tracer    CallTracer // nil: the calls' SIP messages are not traced
	System    *actor.ActorSystem
	Clock     timing.Clock // the calls' timers; nil = the process's wheel
	// lagProbe replaces the transport's LagProbe (tests inject lag with it).
	lagProbe lagSource
}

// NewEngine builds an engine on a running transport.
func NewEngine(o EngineOptions) (*Engine, error) {
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.System == nil {
		o.System = NewActorSystem(o.Logger)
	}
	var identity sip.Uri
	if err := sip.ParseUri(o.SIP.Identity, &identity); err != nil {
		return nil, fmt.Errorf("sip identity %q: %w", o.SIP.Identity, err)
	}
	e := &Engine{
		system: o.System,
		settings: &callSettings{
			tr:                       o.Transport,
			identity:                 identity,
			ringTimeout:              o.SIP.RingTimeout,
			referTimeout:             o.SIP.ReferTimeout,
			maxCallDuration:          o.SIP.MaxCallDuration,
			destinationFromInitiator: o.SIP.DestinationFrom != "identity",
			assertIdentity:           o.SIP.AssertIdentity,
			autoAnswer:               o.SIP.AutoAnswer,
			authUsername:             o.SIP.AuthUsername,
			authPassword:             o.SIP.AuthPassword,
			observer:                 o.Observer,
			clock:                    o.Clock,
			tracer:                   o.Tracer,
		},
		limits:    o.Limits,
		log:       o.Logger,
		calls:     make(map[string]*actor.PID),
		perInit:   make(map[string]int),
		perIPRate: make(map[string]*ipRate),
		queued:    make(map[string]*queuedCall),
		drained:   make(chan struct{}),
	}
	if e.settings.clock == nil {
		e.settings.clock = timing.Default
	}
	if o.Limits.MaxCallsPerSecond > 0 {
		e.rate = rate.NewLimiter(rate.Limit(o.Limits.MaxCallsPerSecond), o.Limits.MaxCallsPerSecond)
	}
	if target := o.Limits.OverloadLagTarget; target > 0 {
		probe, closeProbe := o.lagProbe, func() {}
		if probe == nil && o.Transport != nil {
			p, err := o.Transport.StartLagProbe(probeInterval)
			if err != nil {
				return nil, fmt.Errorf("overload protection: %w", err)
			}
			probe, closeProbe = p, p.Close
		}
		if probe == nil {
			probe = noLag{}
		}
		var wheel timing.Clock
		if w, ok := e.settings.clock.(*timing.Wheel); ok {
			wheel = w // a fake clock's lateness means nothing
		}
		e.gov = newGovernor(target, o.Limits.QueueTimeout, probe, closeProbe, wheel, o.Logger)
		if o.lagProbe == nil && o.Transport != nil && o.Limits.PeerDelayTarget > 0 {
			peers := o.Transport.PeerDelays()
			peers.Watch()
			e.gov.watchPeers(peers, o.Limits.PeerDelayTarget)
		}
		e.gov.start()
	}
	return e, nil
}

type noLag struct{}

func (noLag) Lag() time.Duration { return 0 }

// Overload describes the overload protection for the metrics: the lag
// measured in the last control period, the rate new calls are admitted at
// (+Inf while not shedding), and the share of new requests admitted lately.
// ok is false when the protection is off.
func (e *Engine) Overload() (lag time.Duration, limit, admitted float64, ok bool) {
	if e.gov == nil {
		return 0, 0, 0, false
	}
	return e.gov.Lag(), e.gov.Limit(), e.gov.AdmittedShare(), true
}

// PeerDelay is how much later than usual the SIP peers answered in the
// last control period of the overload protection (0 when it is off).
func (e *Engine) PeerDelay() time.Duration {
	if e.gov == nil {
		return 0
	}
	return e.gov.PeerLag()
}

// ActiveCalls is the number of calls whose supervisor is still running.
func (e *Engine) ActiveCalls() int { return int(e.active.Load()) }

// StartCall admits a call and starts its supervisor; see CallStarter.
func (e *Engine) StartCall(req CallRequest, onProgress func(Progress)) (string, error) {
	var initiator, destination sip.Uri
	if err := sip.ParseUri(req.Initiator, &initiator); err != nil {
		return "", &Refusal{Ending: EndInvalidURI, Text: "Invalid URI format " + req.Initiator}
	}
	if err := sip.ParseUri(req.Destination, &destination); err != nil {
		return "", &Refusal{Ending: EndInvalidURI, Text: "Invalid URI format " + req.Destination}
	}
	if problem := req.Options.WireProblem(); problem != "" {
		return "", &Refusal{Ending: EndInvalidValue, Text: problem}
	}
	id := req.ID
	e.mu.Lock()
	if _, taken := e.calls[id]; taken && id != "" {
		e.mu.Unlock()
		return "", &Refusal{Ending: EndStartFailed, Text: "Call id " + id + " is in use"}
	}
	wait, refusal := e.admit(req)
	if refusal != nil {
		e.mu.Unlock()
		return "", refusal
	}
	if id == "" {
		// Only now: a refused request (the excess of an overload) needs
		// no id, and a random one costs a read of the system's generator
		// (under the lock, about a microsecond a call). 122 random bits
		// are not checked for a collision.
		id = uuid.NewString()
	}
	e.active.Add(1)
	e.perInit[req.Initiator]++
	spec := callSpec{
		id: id, req: req, initiator: initiator, destination: destination,
		settings: e.settings, onProgress: onProgress,
		log:   e.log.With("call", id),
		onEnd: func(id string) { e.ended(id, req.Initiator) },
	}
	// The call is counted (and Shutdown waits for it) from here; it is
	// spawned outside the lock because its first steps run on this
	// goroutine and may end it at once (ended takes the lock).
	e.calls[id] = nil
	if wait > 0 {
		// Queued (limits.queue_timeout): the call starts when its turn comes.
		q := &queuedCall{e: e, spec: spec}
		e.queued[id] = q
		q.timer = e.settings.clock.After(wait, q, nil)
		e.mu.Unlock()
		return id, nil
	}
	e.mu.Unlock()
	e.spawn(spec)
	return id, nil
}

// queuedCall starts a call that waited for its turn; the clock posts it,
// or Shutdown starts it at once (to give it its 503 final).
type queuedCall struct {
	e     *Engine
	spec  callSpec
	timer *timing.Timer
}

func (q *queuedCall) Post(any) {
	q.e.mu.Lock()
	_, waiting := q.e.queued[q.spec.id]
	delete(q.e.queued, q.spec.id)
	q.e.mu.Unlock()
	if waiting {
		q.e.spawn(q.spec)
	}
}

// spawn starts an admitted call's supervisor; e.mu is not held.
func (e *Engine) spawn(spec callSpec) {
	id := spec.id
	props := actor.PropsFromProducer(newCallSupervisor(spec),
		actor.WithSupervisor(stopOnPanic), actor.WithGuardian(stopOnPanic), actor.WithDispatcher(callDispatcher))
	pid := e.system.Root.Spawn(props)
	e.mu.Lock()
	if _, running := e.calls[id]; running {
		e.calls[id] = pid
	}
	stopping := e.stopping
	e.mu.Unlock()
	if stopping {
		// Shutdown began while it was being spawned, and did not see its PID.
		e.system.Root.Send(pid, shutdownCall{})
	}
}

// admit applies the limits, overload protection last so a request refused
// for another reason takes no admission slot; e.mu is held. A queued call
// is admitted with the time it must wait.
func (e *Engine) admit(req CallRequest) (wait time.Duration, refusal *Refusal) {
	if r := e.checkLimits(req); r != nil {
		return 0, r
	}
	if e.gov != nil {
		wait, ok := e.gov.admit(time.Now())
		if !ok {
			r := refuse(EndOverload)
			r.RetryAfter = e.gov.RetryAfter()
			return 0, r
		}
		return wait, nil
	}
	return 0, nil
}

// checkLimits applies the configured limits; e.mu is held.
func (e *Engine) checkLimits(req CallRequest) *Refusal {
	switch {
	case e.stopping:
		return refuse(EndRefusedShutDown)
	case e.limits.MaxActiveCalls > 0 && int(e.active.Load()) >= e.limits.MaxActiveCalls:
		return refuse(EndMaxActiveCalls)
	case e.limits.MaxCallsPerInitiator > 0 && e.perInit[req.Initiator] >= e.limits.MaxCallsPerInitiator:
		return refuse(EndMaxPerInitiator)
	case !e.allowIP(req.ClientIP):
		// Before the total: a client over its own rate must not spend the
		// tokens every other client shares.
		return refuse(EndMaxPerSecondPerIP)
	case e.rate != nil && !e.rate.Allow():
		return refuse(EndMaxCallsPerSecond)
	}
	return nil
}

// ipRate is one client address's token bucket.
type ipRate struct {
	lim  *rate.Limiter
	seen time.Time
}

// allowIP applies limits.max_calls_per_second_per_ip; e.mu is held. Buckets
// idle for a minute are forgotten so a flood of addresses cannot grow the map
// without bound.
func (e *Engine) allowIP(ip string) bool {
	perSec := e.limits.MaxCallsPerSecondPerIP
	if perSec <= 0 || ip == "" {
		return true
	}
	now := time.Now()
	b := e.perIPRate[ip]
	if b == nil {
		if len(e.perIPRate) >= 100000 {
			for k, v := range e.perIPRate {
				if now.Sub(v.seen) > time.Minute {
					delete(e.perIPRate, k)
				}
			}
		}
		b = &ipRate{lim: rate.NewLimiter(rate.Limit(perSec), perSec)}
		e.perIPRate[ip] = b
	}
	b.seen = now
	return b.lim.AllowN(now, 1)
}

func (e *Engine) ended(id, initiator string) {
	e.mu.Lock()
	delete(e.calls, id)
	if e.perInit[initiator]--; e.perInit[initiator] <= 0 {
		delete(e.perInit, initiator)
	}
	e.active.Add(-1)
	if e.stopping && len(e.calls) == 0 {
		select {
		case <-e.drained:
		default:
			close(e.drained)
		}
	}
	e.mu.Unlock()
	// Outside e.mu: admissions must not wait behind the observer.
	if o := e.settings.observer; o != nil {
		o.CallEnded(id, time.Now())
	}
}

// Cancel ends a call on request of its client: a pending call is
// cancelled, a connected anchored one hung up; a call without its final
// result yet gets 487 as its final. It reports whether the call was running.
func (e *Engine) Cancel(id string) bool { return e.send(id, cancelCall{}) }

// Describe returns a one-line account of every running call (id, mode,
// results so far, which legs have ended), for diagnosing a call that does
// not end. Calls that do not answer within a second are listed as busy.
func (e *Engine) Describe() []string {
	e.mu.Lock()
	pids := make(map[string]*actor.PID, len(e.calls))
	for id, pid := range e.calls {
		if pid != nil {
			pids[id] = pid
		}
	}
	e.mu.Unlock()
	// Ask every call at once, so busy calls cost one second in all.
	futures := make(map[string]*actor.Future, len(pids))
	for id, pid := range pids {
		futures[id] = e.system.Root.RequestFuture(pid, describeCall{}, time.Second)
	}
	out := make([]string, 0, len(pids))
	for id, f := range futures {
		res, err := f.Result()
		if err != nil {
			out = append(out, id+": busy ("+err.Error()+")")
			continue
		}
		out = append(out, res.(string))
	}
	return out
}

// send delivers msg to a running call's supervisor.
func (e *Engine) send(id string, msg any) bool {
	e.mu.Lock()
	pid := e.calls[id]
	e.mu.Unlock()
	if pid == nil {
		return false
	}
	e.system.Root.Send(pid, msg)
	return true
}

// Shutdown refuses new calls, gives every running call its final result
// (503) and ends its legs, then waits until all calls have stopped or ctx ends.
func (e *Engine) Shutdown(ctx context.Context) error {
	if e.gov != nil {
		e.gov.close() // no call is admitted from here on
	}
	e.mu.Lock()
	e.stopping = true
	queued := make([]*queuedCall, 0, len(e.queued))
	for id, q := range e.queued {
		q.timer.Stop()
		delete(e.queued, id)
		queued = append(queued, q)
	}
	pids := make([]*actor.PID, 0, len(e.calls))
	for _, pid := range e.calls {
		if pid != nil { // nil: being spawned; StartCall sends it shutdownCall
			pids = append(pids, pid)
		}
	}
	if len(e.calls) == 0 {
		select {
		case <-e.drained:
		default:
			close(e.drained)
		}
	}
	e.mu.Unlock()
	for _, pid := range pids {
		e.system.Root.Send(pid, shutdownCall{})
	}
	for _, q := range queued {
		// Still waiting for its turn: it gets its 100 and its 503 final,
		// and no phone is called.
		q.spec.shutDown = true
		e.spawn(q.spec)
	}
	select {
	case <-e.drained:
		// The calls have ended; their last CANCELs and BYEs must leave
		// before the transport closes.
		if err := e.settings.tr.Drain(ctx); err != nil {
			return fmt.Errorf("shutdown: %w", err)
		}
		return nil
	case <-ctx.Done():
		// Calls still ending their legs: stop them; their legs CANCEL or BYE
		// on the way out.
		e.mu.Lock()
		pids = pids[:0]
		for _, pid := range e.calls {
			if pid != nil {
				pids = append(pids, pid)
			}
		}
		e.mu.Unlock()
		for _, pid := range pids { // outside the lock: a stopping call ends at once, in ended
			e.system.Root.Stop(pid)
		}
		return fmt.Errorf("shutdown: %d calls still ending: %w", e.ActiveCalls(), ctx.Err())
	}
}
