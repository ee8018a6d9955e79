// Package cluster lets several clicktocall nodes answer as one service. It
// joins protoactor's cluster (membership in etcd, gRPC between nodes) and
// keeps three kinds of grains, virtual actors the cluster places on one
// member each: a call directory entry per call id (which node runs it), an
// entry per request_id (the first POST anywhere wins) and an entry per
// initiator (its calls in progress cluster-wide).
//
// A call lives and dies on the node that placed it: its SIP dialogs are
// there. Other nodes reach it through its directory entry and the owner's
// "clicktocall-calls" actor, which answers GET and DELETE and streams the
// call's results. The engine and the HTTP front end see the cluster only
// through Node's narrow methods (Starter, Observer, Call, Watch, Claim).
package cluster

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	protocluster "github.com/asynkron/protoactor-go/cluster"
	"github.com/asynkron/protoactor-go/cluster/clusterproviders/etcd"
	"github.com/asynkron/protoactor-go/cluster/identitylookup/disthash"
	"github.com/asynkron/protoactor-go/remote"
	"github.com/prometheus/client_golang/prometheus"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
	"google.golang.org/protobuf/proto"

	"github.com/clicktocall/clicktocall/cluster/wire"
	"github.com/clicktocall/clicktocall/config"
	"github.com/clicktocall/clicktocall/config/logging"
	"github.com/clicktocall/clicktocall/observe/cdr"
)

// The grain kinds and the owner's actor name, the same on every node.
const (
	kindCall      = "ctc-call"
	kindRequest   = "ctc-request"
	kindInitiator = "ctc-initiator"
	serviceName   = "clicktocall-calls"
	// etcdPrefix is where members register: <prefix>/<cluster name>/<member>.
	etcdPrefix = "/clicktocall"
	// healthInterval is how often etcd is asked whether it answers.
	healthInterval = time.Second
	// touchInterval is how often a member rewrites its etcd key in place.
	touchInterval = 2 * time.Second
	// workers send the updates that do not wait (registrations, releases).
	workers = 4
)

// ErrUnavailable: the cluster cannot be asked now (etcd does not answer, or
// the node has not joined yet); the node goes on as a single node.
var ErrUnavailable = errors.New("cluster unavailable")

// Options configures a Node.
type Options struct {
	Config config.Cluster
	// MaxCallsPerInitiator is limits.max_calls_per_initiator, held
	// cluster-wide; 0 = none.
	MaxCallsPerInitiator int
	// IdempotencyWindow is api.idempotency_window; Retention is
	// api.call_retention, how long a finished call's directory entry stays.
	IdempotencyWindow time.Duration
	Retention         time.Duration
	// Journal is this node's call journal: the owner side reads and
	// watches its calls there.
	Journal *cdr.Journal
	Logger  *slog.Logger
	// Registry receives the cluster's metrics; nil registers none.
	Registry prometheus.Registerer
}

// Local answers for this node's own calls as the JSON API does, so another
// node can pass the answer on unchanged (the HTTP front end).
type Local interface {
	LocalCall(id, method string) (status int, body []byte)
}

// Node is this process's membership in the cluster.
type Node struct {
	opts    Options
	log     *slog.Logger
	system  *actor.ActorSystem
	c       *protocluster.Cluster
	address string
	timeout time.Duration
	metrics *clusterMetrics

	joined  atomic.Bool // StartMember has returned
	healthy atomic.Bool // etcd answered the last health check
	local   atomic.Pointer[localBox]

	mu      sync.Mutex
	members map[string]bool // cluster addresses of the members, this one included
	rdv     *protocluster.Rendezvous
	live    map[string]liveCall            // calls this node runs
	watches map[string]map[*actor.PID]bool // owner address → subscribers on this node

	work     chan func()  // registrations and releases, off the request path
	pending  atomic.Int64 // updates queued and not yet sent
	stop     chan struct{}
	stopOnce sync.Once
}

type localBox struct{ Local }

// liveCall is a call this node runs, for re-registering it when the
// members change and releasing its initiator slot when it ends.
type liveCall struct {
	initiator string
	slot      bool // holds a slot in its initiator's entry
}

// Start joins the cluster in the background and returns at once: a node
// whose etcd is down still serves calls alone, and joins when etcd answers.
func Start(o Options) (*Node, error) {
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	cfg := o.Config
	host, portText, err := net.SplitHostPort(cfg.Address)
	if err != nil {
		return nil, fmt.Errorf("cluster address %q: %w", cfg.Address, err)
	}
	port, err := strconv.Atoi(portText)
	if err != nil {
		return nil, fmt.Errorf("cluster address %q: bad port", cfg.Address)
	}
	log := o.Logger.With("component", "cluster")
	quiet := logging.AtLeast(log, slog.LevelWarn).With("lib", "protoactor")
	n := &Node{
		opts: o, log: log, address: cfg.Address, timeout: cfg.RequestTimeout,
		system:  actor.NewActorSystem(actor.WithLoggerFactory(func(*actor.ActorSystem) *slog.Logger { return quiet })),
		members: map[string]bool{}, rdv: protocluster.NewRendezvous(),
		live: map[string]liveCall{}, watches: map[string]map[*actor.PID]bool{},
		work: make(chan func(), 4096), stop: make(chan struct{}),
		metrics: newClusterMetrics(o.Registry),
	}
	if n.timeout <= 0 {
		n.timeout = 2 * time.Second
	}
	// The etcd client logs through zap; its retries while etcd is down are
	// what the health check reports once.
	provider := &etcdProvider{config: clientv3.Config{Endpoints: cfg.EtcdEndpoints, DialTimeout: 2 * time.Second, Logger: zap.NewNop()}}
	kinds := []*protocluster.Kind{
		protocluster.NewKind(kindCall, actor.PropsFromProducer(func() actor.Actor { return &directoryEntry{n: n} })),
		protocluster.NewKind(kindRequest, actor.PropsFromProducer(func() actor.Actor { return &requestEntry{n: n} })),
		protocluster.NewKind(kindInitiator, actor.PropsFromProducer(func() actor.Actor { return &initiatorEntry{n: n} })),
	}
	conf := protocluster.Configure(cfg.Name, provider, disthash.New(), remote.Configure(host, port),
		protocluster.WithKinds(kinds...), protocluster.WithRequestTimeout(n.timeout))
	n.c = protocluster.New(n.system, conf)
	n.system.EventStream.Subscribe(func(ev any) {
		if t, ok := ev.(*protocluster.ClusterTopology); ok {
			n.topology(t)
		}
	})
	go n.join()
	go n.checkHealth()
	for range workers {
		go n.worker()
	}
	return n, nil
}

// join starts the member; it waits as long as etcd does not answer.
func (n *Node) join() {
	defer func() {
		if r := recover(); r != nil {
			// protoactor panics when its provider fails to start.
			n.log.Error("cluster: joining failed; this node stays alone", "error", r)
		}
	}()
	n.c.StartMember()
	n.system.Root.SpawnNamed(actor.PropsFromProducer(func() actor.Actor { return &callService{n: n} }), serviceName) //nolint:errcheck // the name is free: spawned once
	n.joined.Store(true)
	n.log.Info("cluster joined", "name", n.opts.Config.Name, "address", n.address)
	n.touch()
}

// touch rewrites this member's etcd key in place (same value, same lease)
// every touchInterval. protoactor's etcd provider lists the members, then
// starts watching from the revision current then: a member that registers
// in between is missed for good (seen when three nodes start together).
// The rewrite is a watch event every member sees, so such a member is
// found within touchInterval.
func (n *Node) touch() {
	// Created after the member started: see etcdProvider.
	client, err := clientv3.New(clientv3.Config{Endpoints: n.opts.Config.EtcdEndpoints, DialTimeout: 2 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		n.log.Warn("cluster: etcd client for the member key", "error", err)
		return
	}
	defer client.Close()
	name := n.opts.Config.Name
	key := etcdPrefix + "/" + name + "/" + name + "@" + n.system.ID // the provider's key for this member
	t := time.NewTicker(touchInterval)
	defer t.Stop()
	for {
		select {
		case <-n.stop:
			return
		case <-t.C:
		}
		ctx, cancel := context.WithTimeout(context.Background(), touchInterval)
		// Fails while the key is gone (its lease expired): the provider's
		// keep-alive writes it again.
		_, _ = client.Put(ctx, key, "", clientv3.WithIgnoreValue(), clientv3.WithIgnoreLease())
		cancel()
	}
}

// etcdProvider is protoactor's etcd provider, created when the member
// starts: its etcd client's gRPC must not run before protoactor's remote has
// set gRPC's process-wide logger (remote.Start does, unsynchronised).
type etcdProvider struct {
	config clientv3.Config
	p      *etcd.Provider
}

func (e *etcdProvider) StartMember(c *protocluster.Cluster) error {
	p, err := etcd.NewWithConfig(etcdPrefix, e.config)
	if err != nil {
		return fmt.Errorf("etcd client: %w", err)
	}
	e.p = p
	return p.StartMember(c)
}

func (e *etcdProvider) StartClient(c *protocluster.Cluster) error {
	return errors.New("a clicktocall node is always a member")
}

func (e *etcdProvider) Shutdown(graceful bool) error {
	if e.p == nil {
		return nil
	}
	return e.p.Shutdown(graceful)
}

// etcdHealthy asks etcd's /health over HTTP (not gRPC: see etcdProvider)
// whether one of the endpoints answers.
func (n *Node) etcdHealthy(client *http.Client) error {
	var err error
	for _, endpoint := range n.opts.Config.EtcdEndpoints {
		var res *http.Response
		res, err = client.Get("http://" + endpoint + "/health")
		if err != nil {
			continue
		}
		body, _ := io.ReadAll(io.LimitReader(res.Body, 4096))
		res.Body.Close()
		if res.StatusCode == http.StatusOK && strings.Contains(string(body), `"health":"true"`) {
			return nil
		}
		err = fmt.Errorf("etcd %s: %s %s", endpoint, res.Status, strings.TrimSpace(string(body)))
	}
	return err
}

// checkHealth asks etcd every healthInterval whether it answers.
func (n *Node) checkHealth() {
	t := time.NewTicker(healthInterval)
	defer t.Stop()
	client := &http.Client{Timeout: healthInterval}
	for {
		err := n.etcdHealthy(client)
		was := n.healthy.Swap(err == nil)
		switch {
		case err != nil && was:
			n.log.Warn("cluster unavailable: etcd does not answer; placing calls alone", "error", err)
		case err == nil && !was:
			n.log.Info("cluster available: etcd answers")
			n.reregister()
		}
		select {
		case <-n.stop:
			return
		case <-t.C:
		}
	}
}

// Available reports whether the cluster can be asked now.
func (n *Node) Available() bool { return n.joined.Load() && n.healthy.Load() }

// Serve makes this node answer other nodes about its calls.
func (n *Node) Serve(l Local) { n.local.Store(&localBox{l}) }

// Status describes the membership for /readyz: one line.
func (n *Node) Status() string {
	n.mu.Lock()
	members := len(n.members)
	n.mu.Unlock()
	switch {
	case !n.joined.Load():
		return fmt.Sprintf("cluster %s: joining (etcd %s)", n.opts.Config.Name, n.etcdState())
	case !n.healthy.Load():
		return fmt.Sprintf("cluster %s: unavailable (etcd does not answer), %d members last known", n.opts.Config.Name, members)
	}
	return fmt.Sprintf("cluster %s: %d members, this node %s", n.opts.Config.Name, members, n.address)
}

func (n *Node) etcdState() string {
	if n.healthy.Load() {
		return "answers"
	}
	return "does not answer"
}

// Address is this node's cluster address.
func (n *Node) Address() string { return n.address }

// topology follows the members: subscribers of a node that left get their
// final 503, and this node's calls are registered again, since entries that
// lived on a member that left or moved to one that joined are gone.
func (n *Node) topology(t *protocluster.ClusterTopology) {
	n.mu.Lock()
	n.members = make(map[string]bool, len(t.Members))
	for _, m := range t.Members {
		n.members[m.Address()] = true
	}
	n.rdv.UpdateMembers(t.Members)
	var lost []*actor.PID
	for _, m := range t.Left {
		for pid := range n.watches[m.Address()] {
			lost = append(lost, pid)
		}
		delete(n.watches, m.Address())
	}
	count := len(n.members)
	n.mu.Unlock()
	n.metrics.members.Set(float64(count))
	for _, pid := range lost {
		n.system.Root.Send(pid, nodeLost{})
	}
	if len(t.Left) > 0 || len(t.Joined) > 0 {
		n.log.Info("cluster members changed", "members", count, "joined", len(t.Joined), "left", len(t.Left))
		n.reregister()
	}
}

// isMember reports whether address is a member now.
func (n *Node) isMember(address string) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.members[address]
}

// request asks a grain, bounded by the request timeout however protoactor
// retries (its placement look-up alone may wait 5 s on a dead member).
func (n *Node) request(kind, identity string, msg proto.Message) (any, error) {
	if !n.Available() {
		n.metrics.unavailable.WithLabelValues(kind).Inc()
		return nil, ErrUnavailable
	}
	began := time.Now()
	type answer struct {
		v   any
		err error
	}
	ch := make(chan answer, 1)
	go func() {
		v, err := n.c.Request(identity, kind, msg, protocluster.WithTimeout(n.timeout), protocluster.WithRetryCount(3))
		ch <- answer{v, err}
	}()
	timer := time.NewTimer(n.timeout + 500*time.Millisecond)
	defer timer.Stop()
	var a answer
	select {
	case a = <-ch:
	case <-timer.C:
		a.err = fmt.Errorf("%s %s: no answer within %v", kind, identity, n.timeout)
	}
	n.metrics.observe(kind, began, a.err)
	if lastAsked(msg) {
		// protoactor caches every grain's PID it has asked, for good: one
		// entry per call and request_id ever placed, unless let go.
		n.c.PidCache.Remove(identity, kind)
	}
	if a.err != nil {
		return nil, a.err
	}
	return a.v, nil
}

// lastAsked reports whether msg is, as a rule, the last this node sends to
// its grain: the end of a call, a look-up from another node, the end of a
// request_id's claim.
func lastAsked(msg proto.Message) bool {
	switch msg.(type) {
	case *wire.CallEnded, *wire.LookupCall, *wire.Complete, *wire.Release:
		return true
	}
	return false
}

// ask sends msg to an actor on another node and waits at most d.
func (n *Node) ask(pid *actor.PID, msg proto.Message, what string, d time.Duration) (any, error) {
	began := time.Now()
	v, err := n.system.Root.RequestFuture(pid, msg, d).Result()
	n.metrics.observe(what, began, err)
	return v, err
}

// Stop leaves the cluster: the member is deregistered from etcd and the
// remote closed, within about ctx (protoactor's own shutdown waits for etcd
// without a deadline). Calls are the engine's to end first.
func (n *Node) Stop(ctx context.Context) error {
	var err error
	n.stopOnce.Do(func() {
		// The updates queued before (calls that ended while the engine
		// drained) go out first, while the node is still a member.
		for n.pending.Load() > 0 && ctx.Err() == nil {
			time.Sleep(10 * time.Millisecond)
		}
		close(n.stop)
		done := make(chan struct{})
		go func() {
			defer close(done)
			if n.joined.Load() {
				n.c.Shutdown(n.healthy.Load()) // graceful deregisters from etcd, which must answer
			} else {
				n.system.Shutdown()
			}
		}()
		select {
		case <-done:
		case <-ctx.Done():
			err = fmt.Errorf("cluster: leaving: %w", ctx.Err())
		}
	})
	return err
}
