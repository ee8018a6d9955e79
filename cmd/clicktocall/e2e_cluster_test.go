package main

import (
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// etcdServer is one etcd (Debian etcd-server) on loopback with its data in a
// temp dir, for the cluster tests.
type etcdServer struct {
	client string // host:port
	cmd    *exec.Cmd
	output syncBuffer
	exited chan struct{}
}

// startEtcd starts etcd and waits until its client port accepts
// connections. It is killed at cleanup.
func startEtcd(t *testing.T) *etcdServer {
	t.Helper()
	if _, err := exec.LookPath("etcd"); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("etcd is required when CI is set: %v", err)
		}
		t.Skipf("etcd not installed (./test.sh installs etcd-server): %v", err)
	}
	clientPort, peerPort := freePort(t, false, "tcp"), freePort(t, false, "tcp")
	e := &etcdServer{client: net.JoinHostPort("127.0.0.1", strconv.Itoa(clientPort)), exited: make(chan struct{})}
	clientURL := "http://" + e.client
	peerURL := "http://127.0.0.1:" + strconv.Itoa(peerPort)
	e.cmd = exec.Command("etcd", "--name", "e2e", "--data-dir", filepath.Join(t.TempDir(), "etcd"),
		"--listen-client-urls", clientURL, "--advertise-client-urls", clientURL,
		"--listen-peer-urls", peerURL, "--initial-advertise-peer-urls", peerURL,
		"--initial-cluster", "e2e="+peerURL)
	e.cmd.Stdout, e.cmd.Stderr = &e.output, &e.output
	if err := e.cmd.Start(); err != nil {
		t.Fatalf("start etcd: %v", err)
	}
	go func() {
		_ = e.cmd.Wait()
		close(e.exited)
	}()
	t.Cleanup(func() {
		e.stop()
		if t.Failed() {
			t.Logf("etcd output:\n%s", e.output.String())
		}
	})
	deadline := time.Now().Add(15 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", e.client, time.Second)
		if err == nil {
			c.Close()
			return e
		}
		select {
		case <-e.exited:
			t.Fatalf("etcd exited at start:\n%s", e.output.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("etcd not listening on %s after 15s", e.client)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (e *etcdServer) stop() {
	select {
	case <-e.exited:
	default:
		_ = e.cmd.Process.Kill()
		<-e.exited
	}
}

// kill ends a server at once (SIGKILL): no shutdown, no deregistration.
func (s *e2eServer) kill(t *testing.T) {
	t.Helper()
	s.stopped = true
	if err := s.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatalf("SIGKILL: %v", err)
	}
	<-s.exited
}

// readyz is the server's /readyz answer.
func readyz(t *testing.T, s *e2eServer) (int, string) {
	t.Helper()
	status, b, _ := apiDo(t, http.MethodGet, s.url("/readyz", nil), "")
	return status, string(b)
}

// waitReady polls /readyz until its text contains want, for at most 20 s.
func waitReady(t *testing.T, s *e2eServer, want string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		status, text := readyz(t, s)
		if status == http.StatusOK && strings.Contains(text, want) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("/readyz of %s: %d %q after 20s, want %q", s.httpAddr(), status, text, want)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// waitStatus polls GET path on s until it answers status, for at most d,
// and returns the body.
func waitStatus(t *testing.T, s *e2eServer, path string, status int, d time.Duration) []byte {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		got, b, _ := apiDo(t, http.MethodGet, s.url(path, nil), "")
		if got == status {
			return b
		}
		if time.Now().After(deadline) {
			t.Fatalf("GET %s on %s: %d %s after %v, want %d", path, s.httpAddr(), got, b, d, status)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// upstreamRaces lets a race-built cluster node exit 0 after a data race,
// so that expectNoRaceOfOurs can tell protoactor-go's own races from ours.
// Seen: its BlockList read without its lock (blocklist.go BlockedMembers,
// IsBlocked) while the etcd provider's topology update writes it; its
// MemberList members read without their mutex (ContainsMemberID); disthash's
// ring read by Manager.Get while onClusterTopology replaces it.
const upstreamRaces = "exitcode=0"

// expectNoRaceOfOurs fails the test for every data race report in a
// server's output where this project's code made one of the two accesses
// (the first frame of the access's stack outside the Go runtime); the
// others are races inside protoactor-go's cluster and the libraries it
// calls, reached from our calls into it or from its own goroutines, and are
// counted and logged.
func expectNoRaceOfOurs(t *testing.T, output string) {
	t.Helper()
	ours, upstream := racesOfOurs(output)
	for _, report := range ours {
		t.Errorf("data race:%s", report)
	}
	if upstream > 0 {
		t.Logf("%d data races inside protoactor-go's cluster (upstream) ignored", upstream)
	}
}

// racesOfOurs splits the race reports in output into ours (returned) and
// the number of upstream ones, as expectNoRaceOfOurs says.
func racesOfOurs(output string) (ours []string, upstream int) {
	for _, report := range strings.Split(output, "WARNING: DATA RACE")[1:] {
		report, _, _ = strings.Cut(report, "==================")
		mine := false
		seeking := false // in an access, before its first frame outside the runtime
		for _, line := range strings.Split(report, "\n") {
			trimmed := strings.TrimSpace(line)
			switch {
			case strings.Contains(trimmed, " at 0x") && strings.Contains(trimmed, " by "):
				seeking = true // "Write at 0x... by goroutine N:", "Previous read at ..."
			case !seeking, trimmed == "", strings.HasPrefix(trimmed, "/"), strings.HasPrefix(trimmed, "<"):
				// a file:line, or not in an access
			case strings.HasPrefix(trimmed, "runtime."), strings.HasPrefix(trimmed, "internal/"),
				strings.HasPrefix(trimmed, "sync/atomic."):
				// the runtime's own frames above the code that accessed
			default:
				mine = mine || strings.HasPrefix(trimmed, "github.com/clicktocall/clicktocall/")
				seeking = false
			}
		}
		if mine {
			ours = append(ours, report)
		} else {
			upstream++
		}
	}
	return ours, upstream
}

// A race inside the library counts as upstream even when our call into it
// is further down the stack; one where our code made an access is ours,
// also below the runtime's own frames.
func TestRacesOfOursTellsWhoAccessed(t *testing.T) {
	const upstreamRace = `WARNING: DATA RACE
Read at 0x00c0005ee178 by goroutine 255:
  github.com/asynkron/protoactor-go/cluster/identitylookup/disthash.(*Manager).Get()
      /root/go/pkg/mod/github.com/asynkron/protoactor-go/cluster/identitylookup/disthash/manager.go:75 +0x44
  github.com/clicktocall/clicktocall/cluster.(*Node).request.func1()
      /src/cluster/node.go:300 +0x44

Previous write at 0x00c0005ee178 by goroutine 92:
  github.com/asynkron/protoactor-go/cluster/identitylookup/disthash.(*Manager).onClusterTopology()
      /root/go/pkg/mod/github.com/asynkron/protoactor-go/cluster/identitylookup/disthash/manager.go:69 +0x44b

Goroutine 255 (running) created at:
  github.com/clicktocall/clicktocall/cluster.(*Node).request()
      /src/cluster/node.go:290 +0x44
==================
`
	const ourRace = `WARNING: DATA RACE
Write at 0x00c000123456 by goroutine 7:
  runtime.mapassign_faststr()
      /usr/local/go/src/internal/runtime/maps/runtime_faststr.go:1 +0x1
  github.com/clicktocall/clicktocall/cluster.(*Node).remember()
      /src/cluster/node.go:10 +0x1

Previous read at 0x00c000123456 by goroutine 8:
  github.com/asynkron/protoactor-go/actor.(*actorContext).Receive()
      /root/go/pkg/mod/github.com/asynkron/protoactor-go/actor/actor_context.go:1 +0x1

Goroutine 7 (running) created at:
  main.main()
      /src/main.go:1 +0x1
==================
`
	ours, upstream := racesOfOurs("noise\n" + upstreamRace + ourRace)
	if len(ours) != 1 || upstream != 1 || !strings.Contains(ours[0], "(*Node).remember") {
		t.Fatalf("ours %q, upstream %d; want the remember race as ours and one upstream", ours, upstream)
	}
}

// TestClusterOfThreeNodesAnswersForEveryCallOnEveryNode runs etcd and three
// servers in one cluster, and SIPp phones: a call placed on one node is
// read, followed and cancelled on the others; a request_id and a
// per-initiator limit hold across nodes; a node killed mid-call leaves its
// calls a final 503 on the others while theirs go on; and with etcd gone
// the nodes go on placing calls alone.
func TestClusterOfThreeNodesAnswersForEveryCallOnEveryNode(t *testing.T) {
	t.Parallel()
	etcd := startEtcd(t)
	name := fmt.Sprintf("e2e-%d", time.Now().UnixNano())
	var nodes []*e2eServer
	// Registered first, so it runs after the servers have stopped.
	t.Cleanup(func() {
		for _, s := range nodes {
			expectNoRaceOfOurs(t, s.output.String())
		}
	})
	node := func() *e2eServer {
		s := startServer(t, serverOptions{gorace: upstreamRaces, limits: "max_calls_per_initiator = 1", extra: fmt.Sprintf(`
cluster {
  name           = %q
  address        = "127.0.0.1:%d"
  etcd_endpoints = [%q]
}
`, name, freePort(t, false, "tcp"), etcd.client)})
		nodes = append(nodes, s)
		return s
	}
	a, b, c := node(), node(), node()
	for _, s := range []*e2eServer{a, b, c} {
		waitReady(t, s, "3 members")
	}

	t.Run("a call placed on A is read, followed and cancelled on B and C", func(t *testing.T) {
		ini := startPhone(t, "rings_until_cancel", "alice", 1)
		call := postCall(t, a, fmt.Sprintf(`{"initiator":%q,"destination":"9055551234","metadata":{"crm_id":"42"}}`, ini.address()))
		// Its directory entry is registered just after the 201.
		waitStatus(t, b, "/api/v1/calls/"+call.ID, http.StatusOK, 5*time.Second)
		v := waitView(t, b, call.ID, "ringing", func(v apiView) bool { return v.State == "ringing_initiator" })
		if v.ID != call.ID || v.Origin != "api" || string(v.Metadata) != `{"crm_id":"42"}` {
			t.Errorf("B shows %+v", v)
		}
		es := openEvents(t, c, call.ID, "")
		if es.res.StatusCode != http.StatusOK {
			t.Fatalf("events on C: %d", es.res.StatusCode)
		}
		var events []apiEvent
		for len(events) < 2 {
			e, ok := es.next(t)
			if !ok {
				t.Fatalf("event stream on C ended after %+v", events)
			}
			events = append(events, e)
		}
		status, body, _ := apiDo(t, http.MethodDelete, b.url("/api/v1/calls/"+call.ID, nil), "")
		var del apiView
		decode(t, "DELETE on B", body, &del)
		if status != http.StatusOK || del.Final == nil || del.Final.short() != cancelledWhileRinging[2] || del.State != "cancelled" {
			t.Errorf("DELETE on B: %d %s; want 200 with the final %q", status, body, cancelledWhileRinging[2])
		}
		events = append(events, es.all(t)...)
		expectEvents(t, call.ID, 1, events, cancelledWhileRinging, true)
		for _, e := range events {
			if string(e.Metadata) != `{"crm_id":"42"}` {
				t.Errorf("event on C without the call's metadata: %+v", e)
			}
		}
		ini.expectSuccess(t, 1)
		msgs := ini.messages(t)
		expectOrder(t, msgs, "received INVITE", "received CANCEL", "received ACK")
		find(t, msgs, "487 sent", func(m sipMessage) bool { return m.sent && m.isResponse(487, "INVITE") })
	})

	t.Run("the same request_id on A and then B places one call", func(t *testing.T) {
		ini := startPhone(t, "rings_until_cancel", "bob", 1)
		body := fmt.Sprintf(`{"initiator":%q,"destination":"9055551234","request_id":%q}`, ini.address(), name+"-order")
		first := postCall(t, a, body)
		status, got, h := apiDo(t, http.MethodPost, b.url("/api/v1/calls", nil), body)
		if status != http.StatusCreated || h.Get("Idempotent-Replayed") != "true" || !strings.Contains(string(got), first.ID) {
			t.Errorf("repeat on B: %d %s (Idempotent-Replayed %q); want 201 with %s", status, got, h.Get("Idempotent-Replayed"), first.ID)
		}
		status, got, _ = apiDo(t, http.MethodPost, c.url("/api/v1/calls", nil), strings.Replace(body, "9055551234", "9055550000", 1))
		if status != http.StatusConflict {
			t.Errorf("other request with that request_id on C: %d %s, want 409", status, got)
		}
		waitView(t, a, first.ID, "ringing", func(v apiView) bool { return v.State == "ringing_initiator" })
		if status, got, _ := apiDo(t, http.MethodDelete, c.url("/api/v1/calls/"+first.ID, nil), ""); status != http.StatusOK {
			t.Errorf("DELETE on C: %d %s", status, got)
		}
		ini.expectSuccess(t, 1)
		if n := transactions(ini.messages(t), false, "INVITE"); n != 1 {
			t.Errorf("the phone got %d INVITEs, want 1", n)
		}
	})

	t.Run("a per-initiator cap of 1 holds across nodes", func(t *testing.T) {
		ini := startPhone(t, "rings_until_cancel", "carol", 1)
		body := fmt.Sprintf(`{"initiator":%q,"destination":"9055551234"}`, ini.address())
		first := postCall(t, a, body)
		status, got, _ := apiDo(t, http.MethodPost, b.url("/api/v1/calls", nil), body)
		if status != http.StatusServiceUnavailable || !strings.Contains(string(got), "Too many calls to this initiator") {
			t.Errorf("second call to the initiator on B: %d %s, want 503 Too many calls to this initiator", status, got)
		}
		waitView(t, a, first.ID, "ringing", func(v apiView) bool { return v.State == "ringing_initiator" })
		if status, got, _ := apiDo(t, http.MethodDelete, a.url("/api/v1/calls/"+first.ID, nil), ""); status != http.StatusOK {
			t.Errorf("DELETE on A: %d %s", status, got)
		}
		ini.expectSuccess(t, 1)
		if n := transactions(ini.messages(t), false, "INVITE"); n != 1 {
			t.Errorf("the phone got %d INVITEs, want 1", n)
		}
	})

	t.Run("a node killed mid-call leaves a final 503 and the others' calls go on", func(t *testing.T) {
		lostPhone := startPhone(t, "rings_until_cancel", "dave", 1)
		lost := postCall(t, a, fmt.Sprintf(`{"initiator":%q,"destination":"9055551234"}`, lostPhone.address()))
		waitStatus(t, b, "/api/v1/calls/"+lost.ID, http.StatusOK, 5*time.Second)
		waitView(t, b, lost.ID, "ringing", func(v apiView) bool { return v.State == "ringing_initiator" })
		es := openEvents(t, c, lost.ID, "")
		for range 2 { // 100, 180
			if _, ok := es.next(t); !ok {
				t.Fatal("event stream on C ended early")
			}
		}
		a.kill(t)
		killed := time.Now()
		got := waitStatus(t, b, "/api/v1/calls/"+lost.ID, http.StatusServiceUnavailable, 10*time.Second)
		if !strings.Contains(string(got), "Node lost") {
			// Not yet known as lost (A did not answer): wait for the final.
			deadline := killed.Add(10 * time.Second)
			for !strings.Contains(string(got), "Node lost") && time.Now().Before(deadline) {
				time.Sleep(50 * time.Millisecond)
				_, got, _ = apiDo(t, http.MethodGet, b.url("/api/v1/calls/"+lost.ID, nil), "")
			}
		}
		if !strings.Contains(string(got), "Node lost") {
			t.Fatalf("GET on B after A was killed: %s, want 503 Node lost within 10s", got)
		}
		t.Logf("B answered 503 Node lost %v after A was killed", time.Since(killed).Round(10*time.Millisecond))
		rest := es.all(t)
		if len(rest) != 1 || rest[0].Code != http.StatusServiceUnavailable || !rest[0].Final || rest[0].Text != "Node lost" {
			t.Errorf("events on C after A was killed: %+v, want one final 503 Node lost", rest)
		}
		for _, s := range []*e2eServer{b, c} {
			waitReady(t, s, "2 members")
			ini := startPhone(t, "initiator_accepts_refer", "erin", 1)
			call := postCall(t, s, fmt.Sprintf(`{"initiator":%q,"destination":"9055551234"}`, ini.address()))
			v := waitView(t, s, call.ID, "ended", ended)
			if strings.Join(v.shorts(), "\n") != strings.Join(referConnected, "\n") {
				t.Errorf("call on %s: %v, want %v", s.httpAddr(), v.shorts(), referConnected)
			}
			ini.expectSuccess(t, 1)
		}
	})

	t.Run("with etcd gone the nodes place calls alone", func(t *testing.T) {
		etcd.stop()
		for _, s := range []*e2eServer{b, c} {
			waitReady(t, s, "unavailable")
		}
		ini := startPhone(t, "initiator_accepts_refer", "frank", 2)
		for i, s := range []*e2eServer{b, c} {
			body := fmt.Sprintf(`{"initiator":%q,"destination":"9055551234","request_id":"%s-alone-%d"}`, ini.address(), name, i)
			call := postCall(t, s, body)
			v := waitView(t, s, call.ID, "ended", ended)
			if strings.Join(v.shorts(), "\n") != strings.Join(referConnected, "\n") {
				t.Errorf("call on %s: %v, want %v", s.httpAddr(), v.shorts(), referConnected)
			}
		}
		ini.expectSuccess(t, 2)
		// A call this node does not know cannot be looked up: it says so
		// at once instead of waiting for the cluster.
		status, got, h := apiDo(t, http.MethodGet, b.url("/api/v1/calls/no-such-call", nil), "")
		if status != http.StatusServiceUnavailable || !strings.Contains(string(got), "Cluster unavailable") || h.Get("Retry-After") == "" {
			t.Errorf("GET of an unknown call with etcd gone: %d %s, want 503 Cluster unavailable with Retry-After", status, got)
		}
	})
}
