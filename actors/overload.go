package actors

import (
	"log/slog"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"

	"github.com/clicktocall/clicktocall/transport/timing"
)

// Overload protection (limits.overload_lag_target, limits.peer_delay_target,
// limits.queue_timeout).
//
// A server that takes in more calls than it can carry answers every call
// late; past T1 (500 ms) its phones retransmit, and the retransmissions eat
// what capacity was left. The governor keeps the server inside its headroom
// instead. It measures the lag, how late the server handles its work: the
// transport's LagProbe times an OPTIONS sent to each SIP socket as a phone
// would (the kernel's queue, and the read loop, which also runs the call
// actors), and a timer on the timing wheel shows how late timers fire. It
// also reads how much later than usual the SIP peers answer
// (transport.PeerDelays, limits.peer_delay_target; see readPeers): phones or
// a proxy that fall behind hold calls up as surely as the server's own
// backlog, and on a machine shared with its phones that is where the calls
// wait. Every controlPeriod it sets the rate at which new calls are admitted
// from the period's standing lag, the least of its samples (see run), or the
// peers' lag when larger. One period past the target, unless far past it, is
// a blip and changes nothing: a stall of a few tens of milliseconds on a
// shared machine is not an overload, and shedding for it would refuse calls
// at half the server's capacity. While the lag stays under the target only a
// surge is held back, to a rate that may grow by half every 300 ms or so,
// and by a few percent a period once the lag begins to show (as TCP's
// HyStart leaves slow start), so its lag shows before its backlog is large.
// Once the lag passes the target, the limit starts from the rate admitted
// just before and is cut in proportion
// to the excess while the lag grows (one cut per holdAfterCut periods,
// unless the lag keeps growing fast); while the lag is under the target it
// grows in proportion to the headroom, quickly back to near the ceiling (the
// rate at which the lag last passed the target), then creeps by a few
// percent of the ceiling a second while the lag stays low, and is trimmed
// when the lag hovers near the target. So the excess is refused, what the
// server can carry is admitted, and the limit dwells a little below the
// edge, where a dip in the server's or its phones' capacity does not turn
// into a backlog that every admitted call waits behind. When the limit has
// not been needed for releaseAfter, it is lifted.
//
// New INVITEs are born only here: calls already admitted are never slowed
// or dropped, so shedding new ones is how, when the server is behind, the
// responses, ACKs, NOTIFY answers and BYEs of admitted calls come before
// new INVITEs. A refused request costs a 503 at the front end, before any
// SIP is sent. With queue_timeout a request that finds no room waits for
// the next admission slot, if one comes within queue_timeout: it is
// accepted at once and its call starts when its slot comes.

const (
	controlPeriod = 100 * time.Millisecond
	probeInterval = 20 * time.Millisecond
	// wheelSlack is how late the timing wheel fires a timer when it is not
	// behind at all (its 5 ms tick, rounded up, and the sleep around it).
	wheelSlack = 10 * time.Millisecond
	// holdAfterCut is how many control periods a cut is given to show.
	holdAfterCut = 3
	// blipMax: a lag past the target for one period only is cut for only
	// when it is more than blipMax times the target.
	blipMax = 5
	// cutGain sets the cut of one control step while the lag grows: the
	// limit is divided by 1 + cutGain * (lag - target) / target, so 1.3 at
	// twice the target, 2.2 at five times.
	cutGain = 0.3
	// maxExcess bounds the excess a cut is sized by: one cut at most
	// halves the limit. A lag far past the target is mostly the backlog
	// admitted before the previous cut showed; cutting for all of it
	// would refuse for a second what the server can carry.
	maxExcess = 1 / cutGain
	// growMax is the largest raise of one step, taken when there is no lag
	// and the limit is below ceilingNear of the ceiling.
	growMax     = 0.25
	ceilingNear = 0.85
	ceilingStep = 0.1
	// Above ceilingNear of the ceiling the limit creeps, by probeRate of the
	// ceiling a second, and only after probeCalm periods in a row with the
	// lag under half the target: the lag of a raise shows some periods
	// later (the peers' lag, a call later), so a limit that grows by a
	// share of itself each period overshoots the rate the lag builds at by
	// a fifth before the lag shows, and the backlog of that overshoot is
	// the tail of every admitted call's latency. Creeping, the overshoot
	// is a few percent when the lag shows.
	probeRate = 0.1
	probeCalm = 3
	// While shedding, when the mean lag of the last trimPeriods is past
	// half the target, the limit is trimmed by trim.
	trimPeriods = 5
	trim        = 0.07
	// Past ceilingFar times the ceiling the ceiling is old news (the
	// server carries more now), and the limit grows by probeMin a period,
	// a quarter more each period the lag stays low, up to probeMax.
	ceilingFar = 1.1
	probeMin   = 0.02
	probeMax   = 0.1
	// minLimit keeps a trickle of calls admitted whatever the lag, so the
	// server is seen to serve and the limit can grow again; minBurst lets
	// that many calls in at once, so a short lag spike on a quiet server
	// does not refuse the second of two requests sent together.
	minLimit = 20.0
	minBurst = 20
	// releaseAfter: the limit is lifted once the lag has stayed under half
	// the target and the limit above the offered rate this long.
	releaseAfter = 2 * time.Second
	// burstWindow is how many seconds of the limit may be admitted at once.
	burstWindow = 0.02
	// While nothing is shed, new calls are admitted at up to surgeFactor
	// times the rate admitted lately (smoothed over about 300 ms), at
	// least surgeFloor a second, with surgeBurst seconds of that at once:
	// load that jumps from idle to four times what the server carries
	// would otherwise be admitted whole for the 20 to 100 ms its lag takes
	// to show, a backlog of a second.
	surgeFactor = 1.5
	surgeFloor  = 1000.0
	surgeBurst  = 0.1
	// A surge that is held (see publish) is held to the rate admitted
	// lately, with holdBurst seconds of it at once: room for the jitter of
	// a load the server carries, none for a load that doubles.
	holdBurst = 0.05
	// While a surge held back by its cap meets the first signs of lag (the
	// server's own lag past a quarter of its target, or the peers' past
	// half theirs), the cap grows by only surgeSlowFactor times the rate
	// admitted, a few percent a period, until it has refused nothing for
	// surgeSlowFor periods: the rate admitted is being raised as fast as
	// the cap allows, so a lag that builds is its doing, and by the time
	// it passes the target the backlog is half a second. (TCP's HyStart
	// leaves slow start on a rise of delay for the same reason.)
	surgeSlowFactor = 1.1
	surgeSlowFor    = 10
	// A surge whose signs of lag last signsPersist periods in a row, held
	// at the rate admitted all the while, is past what the server or its
	// phones carry: the lag builds a little each period yet stays under
	// the target, so without this the backlog grows for seconds. It is
	// shed from then on, from trim below the rate admitted. So is one
	// whose lag, after signsRising periods of signs, has passed half the
	// target and still grows by a tenth or more a period (less is noise):
	// its backlog builds fast, and waiting for signsPersist would let it
	// grow past the target first.
	signsPersist = 5
	signsRising  = 2
)

// lagSource reports the worst lag since its previous call.
type lagSource interface{ Lag() time.Duration }

// peerSource reports how much later than usual the peers answered lately
// (transport.PeerDelays).
type peerSource interface {
	Excess(q float64, minSamples int) (time.Duration, int)
	Reset()
}

const (
	// peerQuantile of the peers' excess delays in a control period is the
	// governor's reading: a backlog at the phones shows in the slowest
	// tenth of their answers before it shows in the median, and the tail is
	// what a caller waits for.
	peerQuantile = 0.9
	// peerMinSamples answers make a reading; fewer wait for the next
	// period, up to peerMaxWait periods, and are then dropped.
	peerMinSamples = 10
	peerMaxWait    = 10
	// peerEntry: while nothing is shed, the peers' lag starts shedding only
	// past peerEntry times peer_delay_target (for two periods). Phones
	// near their capacity are late by that much now and then; once the
	// governor sheds, it holds them at the target itself. (A gate, not a
	// scale: the lag a cut is sized by reads the same on both sides.)
	peerEntry = 4
	// peerDrift is the time constant with which the usual reading rises
	// towards a higher one; it falls to a lower one at once.
	peerDrift = 5 * time.Minute
)

// governor is the engine's overload protection.
type governor struct {
	target       time.Duration
	queueTimeout time.Duration
	probe        lagSource
	peers        peerSource // nil: the peers' delays are not watched
	peerTarget   time.Duration
	closeProbe   func()
	wheel        timing.Clock // nil: no wheel lateness (a fake clock)
	log          *slog.Logger

	lim      atomic.Pointer[rate.Limiter] // the surge cap or the shedding limit
	offered  atomic.Int64                 // requests that reached the governor since the last step
	admitted atomic.Int64                 // of which admitted
	refused  atomic.Int64                 // refused since shedding began (for the log)
	wheelLag atomic.Int64                 // worst wheel lateness since the last step, ns

	// Published by the control loop for admit and the metrics.
	lag        atomic.Int64  // the last step's lag, ns
	peerLag    atomic.Int64  // the last reading of the peers' excess delay, ns
	limitBits  atomic.Uint64 // the admission rate, calls/s (float64 bits); +Inf when not limiting
	shareBits  atomic.Uint64 // admitted share of the offered requests, last seconds (float64 bits)
	retryAfter atomic.Int64  // what a refused request is told, ns

	// Control state: only the control loop touches it.
	limit        float64 // calls/s; 0 = not limiting
	prevLag      time.Duration
	offeredRate  float64 // calls/s, smoothed
	admittedRate float64
	calm         time.Duration              // how long the limit has not been needed
	over         bool                       // the lag is past the target
	ceiling      float64                    // the limit at which the lag last passed the target
	sinceCut     int                        // control periods since the last cut
	cutLag       time.Duration              // the lag that made the last cut, 0 outside an episode
	overFor      int                        // control periods in a row with the lag past the target
	calmFor      int                        // control periods in a row with the lag under half the target
	recent       [trimPeriods]time.Duration // the lag of the last periods, a ring
	steps        int                        // control steps taken
	probeStep    float64                    // the growth per period well past the ceiling
	since        time.Time                  // shedding began
	lastReport   time.Time
	peerWait     int           // control periods since the last peer reading
	peerUsual    time.Duration // the usual peer reading; -1 before the first
	peerAt       time.Time     // the last peer reading
	peerOver     time.Duration // the last peer reading: how much later than usual they answer
	peerOnly     bool          // this step's lag is the peers' alone: a blip however large
	surgeSlow    bool          // a surge met the first signs of lag: the surge cap grows slowly
	surgeSigns   bool          // this period a surge held back by its cap shows signs of lag
	surgeIdle    int           // control periods the surge cap has not refused anything while slow
	signsFor     int           // control periods in a row with surgeSigns

	stop     chan struct{}
	done     chan struct{} // closed when run returns
	started  bool
	stopOnce sync.Once
}

// newGovernor makes a governor; start runs it. probe measures the SIP
// sockets' lag; wheel, when not nil, is the timing wheel whose lateness
// counts too.
func newGovernor(target, queueTimeout time.Duration, probe lagSource, closeProbe func(), wheel timing.Clock, log *slog.Logger) *governor {
	g := &governor{target: target, queueTimeout: queueTimeout, probe: probe, closeProbe: closeProbe, wheel: wheel, log: log,
		stop: make(chan struct{}), done: make(chan struct{})}
	g.limitBits.Store(math.Float64bits(math.Inf(1)))
	g.shareBits.Store(math.Float64bits(1))
	g.retryAfter.Store(int64(time.Second))
	g.setLimiter(time.Now(), surgeFloor, int(surgeFloor*surgeBurst))
	return g
}

// start runs the control loop and the wheel probe until close.
func (g *governor) start() {
	if g.wheel != nil {
		g.wheel.After(probeInterval, g, wheelProbe{due: time.Now().Add(probeInterval)})
	}
	g.started = true
	go g.run()
}

// wheelProbe is the governor's own timer on the wheel: when it fires later
// than due, the wheel (which also runs the call actors' timer work) is behind.
type wheelProbe struct{ due time.Time }

// Post implements timing.Poster for the wheel probe.
func (g *governor) Post(msg any) {
	p, ok := msg.(wheelProbe)
	if !ok {
		return
	}
	now := time.Now()
	if late := now.Sub(p.due) - wheelSlack; late > 0 {
		for {
			old := g.wheelLag.Load()
			if int64(late) <= old || g.wheelLag.CompareAndSwap(old, int64(late)) {
				break
			}
		}
	}
	select {
	case <-g.stop:
	default:
		g.wheel.After(probeInterval, g, wheelProbe{due: now.Add(probeInterval)})
	}
}

// admit decides on one new call: now, after wait (it waits in the queue),
// or not at all.
func (g *governor) admit(now time.Time) (wait time.Duration, ok bool) {
	g.offered.Add(1)
	lim := g.lim.Load()
	if lim == nil {
		g.admitted.Add(1)
		return 0, true
	}
	r := lim.ReserveN(now, 1)
	if !r.OK() {
		g.refused.Add(1)
		return 0, false
	}
	if wait = r.DelayFrom(now); wait > g.queueTimeout {
		r.CancelAt(now)
		g.refused.Add(1)
		return 0, false
	}
	g.admitted.Add(1)
	return wait, true
}

// RetryAfter is what a refused request is told: 1 s, up to 5 s when most
// requests are being refused.
func (g *governor) RetryAfter() time.Duration { return time.Duration(g.retryAfter.Load()) }

// Lag is the lag measured in the last control period.
func (g *governor) Lag() time.Duration { return time.Duration(g.lag.Load()) }

// Limit is the rate new calls are admitted at, calls/s; +Inf while not shedding.
func (g *governor) Limit() float64 { return math.Float64frombits(g.limitBits.Load()) }

// AdmittedShare is the share of new requests admitted over the last
// seconds, 1 while not shedding.
func (g *governor) AdmittedShare() float64 { return math.Float64frombits(g.shareBits.Load()) }

func (g *governor) close() {
	g.stopOnce.Do(func() {
		close(g.stop)
		if g.started {
			<-g.done
		}
		if g.closeProbe != nil {
			g.closeProbe()
		}
	})
}

// run samples the lag at every probe and takes a control step every
// controlPeriod with the period's standing lag, the least of its samples. A
// backlog the server cannot clear delays every probe of the period; a stall
// (a garbage collection, another process holding the CPU for tens of
// milliseconds) delays a few, and is not a reason to refuse calls.
func (g *governor) run() {
	defer close(g.done)
	tick := time.NewTicker(probeInterval)
	defer tick.Stop()
	last := time.Now()
	var standing time.Duration // the least sample since the last step
	samples := 0
	for {
		select {
		case <-g.stop:
			return
		case now := <-tick.C:
			lag := max(g.probe.Lag(), time.Duration(g.wheelLag.Swap(0)))
			if samples == 0 || lag < standing {
				standing = lag
			}
			samples++
			if now.Sub(last) >= controlPeriod-probeInterval/2 {
				g.period(now, now.Sub(last), standing)
				last, samples = now, 0
			}
		}
	}
}

// watchPeers makes the governor act on the peers' excess delay too, with
// target as their lag target.
func (g *governor) watchPeers(peers peerSource, target time.Duration) {
	g.peers, g.peerTarget, g.peerUsual = peers, target, -1
}

// period ends a control period of length d whose own standing lag was
// standing: the governor steps on it, or on the peers' lag when that is
// larger and the server's own is under the target (a lag of the peers
// alone is taken for a blip at first, however large).
func (g *governor) period(now time.Time, d, standing time.Duration) {
	surging := g.limit == 0 && g.offered.Load() > g.admitted.Load()
	peer := g.readPeers(now, standing)
	g.peerOnly = peer > standing && standing <= g.target
	// A surge held back by its cap slows at the first signs of lag (see
	// surgeSlowFactor).
	g.surgeSigns = surging && (standing > g.target/4 || g.peerOver > g.peerTarget/2)
	g.signsFor++
	if !g.surgeSigns {
		g.signsFor = 0
	}
	switch {
	case g.surgeSigns:
		g.surgeSlow, g.surgeIdle = true, 0
	case !surging && g.surgeSlow:
		if g.surgeIdle++; g.surgeIdle >= surgeSlowFor {
			g.surgeSlow = false
		}
	}
	g.step(now, d, max(standing, peer))
}

// readPeers returns the peers' lag, in units of the governor's own target
// so that one control law serves both: how far the peers' excess delay
// (its peerQuantile) is above its usual value, less the server's own
// standing lag (an answer is timed when its call's actor handles it, so
// the server's own backlog is in it), scaled by target / peerTarget. The
// usual value takes in the jitter of peers that are far away or on Wi-Fi,
// which is there whatever the load. While nothing is shed, a lag under
// peerEntry times the peers' target counts as none. A period with too few
// answers to say keeps the last reading, for up to peerMaxWait periods.
func (g *governor) readPeers(now time.Time, standing time.Duration) time.Duration {
	if g.peers == nil {
		return 0
	}
	d, n := g.peers.Excess(peerQuantile, peerMinSamples)
	if n < peerMinSamples {
		if g.peerWait++; g.peerWait >= peerMaxWait {
			g.peers.Reset()
			g.peerWait, g.peerOver = 0, 0
			g.peerLag.Store(0)
		}
	} else {
		g.peerWait = 0
		switch {
		case g.peerUsual < 0 || d < g.peerUsual:
			g.peerUsual = d
		default:
			drift := min(1, float64(now.Sub(g.peerAt))/float64(peerDrift))
			g.peerUsual += time.Duration(drift * float64(d-g.peerUsual))
		}
		g.peerAt = now
		g.peerOver = max(0, d-g.peerUsual-standing)
		g.peerLag.Store(int64(g.peerOver))
	}
	if g.limit == 0 && g.peerOver <= peerEntry*g.peerTarget {
		return 0
	}
	return time.Duration(float64(g.peerOver) * float64(g.target) / float64(g.peerTarget))
}

// PeerLag is the last reading of how much later than usual the peers answer.
func (g *governor) PeerLag() time.Duration { return time.Duration(g.peerLag.Load()) }

// step is one control period of length period, whose standing lag was lag:
// it sets the admission rate.
func (g *governor) step(now time.Time, period, lag time.Duration) {
	g.lag.Store(int64(lag))
	secs := max(period.Seconds(), 0.001)
	offered, admitted := float64(g.offered.Swap(0)), float64(g.admitted.Swap(0))
	// Rates smoothed with a time constant of about 300 ms.
	smooth := 1 - math.Exp(-secs/0.28)
	g.offeredRate += smooth * (offered/secs - g.offeredRate)
	g.admittedRate += smooth * (admitted/secs - g.admittedRate)

	if lag <= g.target {
		g.overFor = 0
	}
	if lag < g.target/2 {
		g.calmFor++
	} else {
		g.calmFor = 0
	}
	switch {
	case lag > g.target && g.limit == 0 && g.overFor == 0 && (lag <= blipMax*g.target || g.peerOnly):
		// The first period past the target on a server that is not
		// shedding, and not far past it: a blip (a garbage collection,
		// another process taking the CPU for a few tens of milliseconds)
		// until the next period shows it again. Limiting at once would
		// start from the rate admitted and refuse the jitter of a load
		// the server carries easily. A stall of the phones (or of the
		// server while it times them) delays most of a period's answers
		// however short it is, so the peers' lag alone is a blip
		// whatever its size.
		g.overFor = 1
	case lag > g.target:
		g.calm = 0
		if g.limit == 0 {
			// Start from what was admitted while the lag built up.
			g.limit = max(minLimit, g.admittedRate, admitted/secs)
			g.since, g.lastReport = now, now
			g.refused.Store(0)
			g.log.Warn("overload: shedding new calls", "lag", lag, "target", g.target, "peer_delay", time.Duration(g.peerLag.Load()),
				"admitted_per_s", math.Round(g.limit), "offered_per_s", math.Round(g.offeredRate))
		}
		if !g.over {
			// A new episode. The ceiling is the rate admitted on the way
			// in, smoothed: the limit itself overshoots, since the lag
			// shows what was admitted a little earlier.
			g.over, g.ceiling = true, max(minLimit, min(g.limit, g.admittedRate))
		}
		// Cut while the lag grows, in proportion to how far past the
		// target it is, and a little while it holds; once it falls, what
		// was cut is enough and the backlog is draining. A cut shows in
		// the lag only after the backlog it found has drained, so after
		// one the governor waits holdAfterCut before the next, unless the
		// lag has grown by half since. A single period over the target,
		// unless far over it, is a blip (a garbage collection, another
		// process's burst): it only stops the growth.
		g.overFor++
		excess := min(maxExcess, float64(lag-g.target)/float64(g.target))
		ready := (g.sinceCut >= holdAfterCut || lag*2 > g.cutLag*3) && (g.overFor > 1 || (lag > blipMax*g.target && !g.peerOnly))
		switch {
		case ready && lag*10 > g.prevLag*11:
			g.limit = max(minLimit, g.limit/(1+cutGain*excess))
			g.sinceCut, g.cutLag, g.recent = 0, lag, [trimPeriods]time.Duration{}
		case ready && lag*10 > g.prevLag*9:
			g.limit = max(minLimit, g.limit/(1+cutGain/4*excess))
			g.sinceCut, g.cutLag, g.recent = 0, lag, [trimPeriods]time.Duration{}
		}
	case g.limit == 0 && (g.signsFor >= signsPersist || g.signsFor >= signsRising && lag >= g.target/2 && lag*10 > g.prevLag*11):
		// A held surge whose lag kept showing or grows fast (see signsPersist).
		g.ceiling = max(minLimit, g.admittedRate)
		g.limit = max(minLimit, g.ceiling*(1-trim))
		g.since, g.lastReport, g.sinceCut, g.recent = now, now, 0, [trimPeriods]time.Duration{}
		g.refused.Store(0)
		g.log.Warn("overload: shedding new calls", "lag", lag, "target", g.target, "peer_delay", time.Duration(g.peerLag.Load()),
			"admitted_per_s", math.Round(g.ceiling), "offered_per_s", math.Round(g.offeredRate), "reason", "a surge's lag kept building")
	case g.limit > 0:
		g.over, g.cutLag = false, 0

		// Grow in proportion to the headroom: quickly back towards the
		// ceiling, the limit of the last episode, then slowly past it, so
		// the limit dwells where the lag began to build.
		headroom := 1 - float64(lag)/float64(g.target)
		if near := ceilingNear * g.ceiling; g.limit < near {
			// A tenth of the ceiling a period at least: after a deep cut
			// the way back takes a second, not minutes.
			g.limit = min(near, g.limit+max(g.limit*growMax, g.ceiling*ceilingStep)*headroom+1)
		} else if g.calmFor >= probeCalm {
			if g.limit < ceilingFar*g.ceiling {
				// Near the ceiling, creep while the lag stays low: a few
				// percent of the ceiling a second, so the lag shows
				// before its backlog is large.
				g.limit += probeRate*g.ceiling*secs + 1
				g.probeStep = 0
			} else {
				// Well past it, the ceiling is old news: probe faster the
				// longer the lag stays low.
				g.probeStep = min(probeMax, max(probeMin, g.probeStep*1.25))
				g.limit = g.limit*(1+g.probeStep) + 1
			}
		} else {
			g.probeStep = 0
		}
		// A limit far above what is asked for would let a new burst in whole.
		g.limit = min(g.limit, max(2*g.offeredRate, g.admittedRate)+10)
		if lag < g.target/2 && g.limit > g.offeredRate {
			g.calm += period
		} else {
			g.calm = 0
		}
		if g.calm >= releaseAfter {
			g.log.Info("overload: over, admitting every call", "lag", lag, "shed_for", now.Sub(g.since).Round(time.Millisecond),
				"refused", g.refused.Load())
			g.limit = 0
		}
	}
	g.recent[g.steps%len(g.recent)] = lag
	g.steps++
	if g.limit > 0 && g.limit >= ceilingNear*g.ceiling && g.sinceCut >= holdAfterCut && g.recentMean() > g.target/2 {
		// The lag has hovered near the target, neither past it long
		// enough to cut nor low enough to grow, with the limit near the
		// ceiling: it is at the edge of what the server carries, where a
		// dip of its capacity (a garbage collection, another process)
		// turns into a backlog. Trim it, so it dwells a little below the
		// edge. (Further below the ceiling a lag near the target is a
		// capacity that has dropped, which the cuts answer; trimming
		// there too would ratchet the limit down for seconds after a
		// stall.)
		g.limit = max(minLimit, g.limit*(1-trim))
		g.sinceCut, g.recent = 0, [trimPeriods]time.Duration{}
	}
	g.prevLag = lag
	g.sinceCut++
	g.publish(now)
}

func (g *governor) setLimiter(now time.Time, limit float64, burst int) {
	if lim := g.lim.Load(); lim != nil {
		lim.SetLimitAt(now, rate.Limit(limit))
		lim.SetBurstAt(now, burst)
		return
	}
	g.lim.Store(rate.NewLimiter(rate.Limit(limit), burst))
}

// publish makes the control state visible to admit and the metrics.
func (g *governor) publish(now time.Time) {
	if g.limit == 0 {
		// Not shedding: only a surge is held, to a rate that may grow by
		// half about every 300 ms, so its lag shows before its backlog is
		// large.
		surge := max(surgeFloor, surgeFactor*g.admittedRate)
		burst := surge * surgeBurst
		switch {
		case g.overFor > 0 || g.surgeSigns:
			// A period past the target, maybe a blip, or a surge showing
			// signs of lag: until the next period tells, a surge is held
			// to the rate admitted, so that if it is the start of an
			// overload, its backlog has not grown by half by the time
			// the governor starts shedding.
			surge = max(surgeFloor, g.admittedRate)
			burst = surge * holdBurst
		case g.surgeSlow:
			surge = max(surgeFloor, surgeSlowFactor*g.admittedRate)
			burst = surge * holdBurst
		}
		g.setLimiter(now, surge, max(1, int(burst)))
		g.limitBits.Store(math.Float64bits(math.Inf(1)))
		g.shareBits.Store(math.Float64bits(1))
		g.retryAfter.Store(int64(time.Second))
		return
	}
	g.setLimiter(now, g.limit, max(minBurst, int(g.limit*burstWindow)))
	g.limitBits.Store(math.Float64bits(g.limit))
	share := 1.0
	if g.offeredRate > 0 {
		share = min(1, g.admittedRate/g.offeredRate)
	}
	g.shareBits.Store(math.Float64bits(share))
	g.retryAfter.Store(int64(time.Duration(math.Ceil(1+4*(1-share))) * time.Second))
	if now.Sub(g.lastReport) >= 10*time.Second {
		g.lastReport = now
		g.log.Warn("overload: still shedding", "lag", time.Duration(g.lag.Load()), "admitted_per_s", math.Round(g.admittedRate),
			"offered_per_s", math.Round(g.offeredRate), "refused", g.refused.Load(), "for", now.Sub(g.since).Round(time.Second))
	}
}

// recentMean is the mean lag of the last trimPeriods control periods.
func (g *governor) recentMean() time.Duration {
	var sum time.Duration
	for _, l := range g.recent {
		sum += l
	}
	return sum / time.Duration(len(g.recent))
}
