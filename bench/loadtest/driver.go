package loadtest

import (
	"fmt"
	"net/url"
	"strconv"
	"sync"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/clicktocall/clicktocall/bench/xmlclient"
)

// driver sends the requests of one trial to the server's front end.
type driver interface {
	// send hands over the requests of the calls from first on, due
	// together; it may block while the connections are backed up. The
	// driver keeps reqs.
	send(first uint64, reqs []xmlclient.Request)
	// finish says no request follows and waits (until deadline) for the
	// server to answer everything sent.
	finish(deadline time.Time)
	// close drops the connections.
	close()
	// errs lists connection errors seen.
	errs() []string
}

// xmlDriver spreads requests round-robin over pipelined connections, the
// requests due together on one connection in one write.
type xmlDriver struct {
	t     *table
	conns []*xmlclient.Conn
	next  int
	mu    sync.Mutex
	stray int // results the bench could not attribute to a call
}

func newXMLDriver(addr string, conns int, t *table) (*xmlDriver, error) {
	d := &xmlDriver{t: t}
	for range conns {
		// 512 batches: a few thousand requests at the rates that batch,
		// before a server that stopped reading holds the pacer up.
		c, err := xmlclient.Dial(addr, 5*time.Second, 512, d.onResponse)
		if err != nil {
			d.close()
			return nil, err
		}
		d.conns = append(d.conns, c)
	}
	return d, nil
}

func (d *xmlDriver) send(first uint64, reqs []xmlclient.Request) {
	c := d.conns[d.next]
	d.next = (d.next + 1) % len(d.conns)
	now := d.t.since(time.Now())
	for i := range reqs {
		if r := d.t.get(first + uint64(i)); r != nil {
			r.sent.Store(now)
		}
	}
	c.SendBatch(reqs)
}

func (d *xmlDriver) onResponse(res xmlclient.Response, at time.Time) {
	_, idx, ok := parseCallUser(res.Initiator)
	r := d.t.get(idx)
	if !ok || r == nil {
		d.mu.Lock()
		d.stray++
		d.mu.Unlock()
		return
	}
	ns := d.t.since(at)
	if r.finals.Load() > 0 {
		r.late.Add(1)
		d.t.check(r)
		return
	}
	if res.Code == 100 {
		r.admitted.Store(true)
	}
	if res.Code == 200 && res.Leg == "Initiator" {
		r.initOK.CompareAndSwap(0, ns)
	}
	if res.Final() {
		if isRefusal(res.Code, res.Leg, r.admitted.Load()) {
			r.refusal.Store(fmt.Sprintf("%d %s", res.Code, res.Text))
			r.retryAfter.Store(int32(res.RetryAfter))
			r.refused.Store(true)
		}
		r.final.Store(ns)
		r.finalCode.Store(int32(res.Code))
		r.finalLeg.Store(res.Leg)
		r.finals.Add(1)
		d.t.check(r)
	}
}

func (d *xmlDriver) finish(deadline time.Time) {
	for _, c := range d.conns {
		c.CloseWrite()
	}
	for _, c := range d.conns {
		select {
		case <-c.ReadDone():
		case <-time.After(time.Until(deadline)):
			return
		}
	}
}

func (d *xmlDriver) close() {
	for _, c := range d.conns {
		_ = c.Close()
	}
}

func (d *xmlDriver) errs() []string {
	var out []string
	for _, c := range d.conns {
		if err := c.Err(); err != nil {
			out = append(out, err.Error())
		}
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.stray > 0 {
		out = append(out, strconv.Itoa(d.stray)+" XML results for no call of this trial")
	}
	return out
}

// httpDriver sends GET /clicktocall.html from a pool of workers, one
// request at a time per keep-alive connection.
type httpDriver struct {
	t      *table
	client *fasthttp.HostClient
	queue  chan httpJob
	wg     sync.WaitGroup
	mu     sync.Mutex
	errors map[string]int
}

type httpJob struct {
	idx uint64
	req xmlclient.Request
}

func newHTTPDriver(addr string, workers int, t *table) *httpDriver {
	d := &httpDriver{
		t:      t,
		client: &fasthttp.HostClient{Addr: addr, MaxConns: workers, ReadTimeout: 10 * time.Second, WriteTimeout: 10 * time.Second},
		queue:  make(chan httpJob, 4096),
		errors: map[string]int{},
	}
	for range workers {
		d.wg.Add(1)
		go d.work()
	}
	return d
}

func (d *httpDriver) send(first uint64, reqs []xmlclient.Request) {
	for i, req := range reqs {
		d.queue <- httpJob{first + uint64(i), req}
	}
}

func (d *httpDriver) work() {
	defer d.wg.Done()
	req, res := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
	defer fasthttp.ReleaseRequest(req)
	defer fasthttp.ReleaseResponse(res)
	for job := range d.queue {
		q := url.Values{"initiator": {job.req.Initiator}, "destination": {job.req.Destination},
			"anchor": {strconv.FormatBool(job.req.Anchor)}}
		req.SetRequestURI("http://" + d.client.Addr + "/clicktocall.html?" + q.Encode())
		r := d.t.get(job.idx)
		if r != nil {
			r.sent.Store(d.t.since(time.Now()))
		}
		err := d.client.Do(req, res)
		if r == nil {
			continue
		}
		if err != nil {
			d.mu.Lock()
			d.errors[fmt.Sprintf("http: %v", err)]++
			d.mu.Unlock()
			r.httpCode.Store(-1)
		} else {
			code := res.StatusCode()
			if isRefusal(code, "", false) {
				r.final.Store(d.t.since(time.Now()))
				r.refusal.Store(fmt.Sprintf("HTTP %d", code))
				ra, _ := strconv.Atoi(string(res.Header.Peek("Retry-After")))
				r.retryAfter.Store(int32(ra))
				r.refused.Store(true)
			}
			r.httpCode.Store(int32(code))
		}
		d.t.check(r)
	}
}

func (d *httpDriver) finish(deadline time.Time) {
	close(d.queue)
	done := make(chan struct{})
	go func() { d.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(time.Until(deadline)):
	}
}

func (d *httpDriver) close() { d.client.CloseIdleConnections() }

func (d *httpDriver) errs() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	var out []string
	for e, n := range d.errors {
		out = append(out, fmt.Sprintf("%d× %s", n, e))
	}
	return out
}
