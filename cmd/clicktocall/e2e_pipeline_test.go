package main

import (
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// connStreams is what one XML connection received, per request (keyed by the
// echoed destination), in arrival order.
type connStreams struct {
	streams     map[string][]xmlResult
	order       []xmlResult // every result as it arrived
	closedAfter bool        // the server closed the connection after the last final
	err         error
}

// collect reads results until n requests have their final; with untilEOF it
// then expects the server to close the connection.
func collect(c *xmlClient, n int, untilEOF bool, deadline time.Time) connStreams {
	out := connStreams{streams: map[string][]xmlResult{}}
	finals := 0
	for finals < n {
		r, err := c.next(deadline)
		if err != nil {
			out.err = fmt.Errorf("after %d results, %d finals: %w", len(out.order), finals, err)
			return out
		}
		d := r.Request.Destination
		if len(out.streams[d]) > 0 && out.streams[d][len(out.streams[d])-1].final() {
			out.err = fmt.Errorf("result %s for %s after its final", r.short(), d)
			return out
		}
		out.streams[d] = append(out.streams[d], r)
		out.order = append(out.order, r)
		if r.final() {
			finals++
		}
	}
	if untilEOF {
		_, err := c.next(deadline)
		out.closedAfter = errors.Is(err, io.EOF)
		if !out.closedAfter {
			out.err = fmt.Errorf("after the last final: %v, want the connection closed", err)
		}
	}
	return out
}

func TestXMLPipelinedRequestsEachGetTheirOwnStream(t *testing.T) {
	t.Parallel()
	const onA, onB = 50, 10
	ini := startPhone(t, "initiator_accepts_refer", "alice", onA+onB)
	s := startServer(t, serverOptions{})
	a, b := dialXML(t, s), dialXML(t, s)
	requests := func(first, n int) (docs []string, dests []string) {
		for i := range n {
			d := strconv.Itoa(first + i)
			docs = append(docs, xmlRequest(ini.address(), d, false))
			dests = append(dests, d)
		}
		return docs, dests
	}
	docsA, destsA := requests(1000, onA)
	docsB, destsB := requests(2000, onB)

	// Both connections at once: A writes its 50 requests in one write and
	// stays open; B writes 10 and half-closes, so the server closes B after
	// B's last final.
	deadline := time.Now().Add(30 * time.Second)
	var wg sync.WaitGroup
	var gotA, gotB connStreams
	wg.Add(2)
	go func() {
		defer wg.Done()
		gotA = collect(a, onA, false, deadline)
	}()
	go func() {
		defer wg.Done()
		gotB = collect(b, onB, true, deadline)
	}()
	a.send(t, docsA...)
	b.send(t, docsB...)
	if err := b.conn.(*net.TCPConn).CloseWrite(); err != nil {
		t.Fatal(err)
	}
	wg.Wait()

	want := []string{
		"100 In progress",
		"180 Initiator Ringing initiator",
		"200 Initiator Connected to initiator",
		"180 Destination Ringing destination",
		"200 Destination Connected to destination",
	}
	for _, conn := range []struct {
		name  string
		got   connStreams
		dests []string
	}{{"A", gotA, destsA}, {"B", gotB, destsB}} {
		if conn.got.err != nil {
			t.Errorf("connection %s: %v", conn.name, conn.got.err)
		}
		if len(conn.got.streams) != len(conn.dests) {
			t.Errorf("connection %s got streams for %d requests, want %d", conn.name, len(conn.got.streams), len(conn.dests))
		}
		for _, d := range conn.dests {
			got := shortAll(conn.got.streams[d])
			if strings.Join(got, "|") != strings.Join(want, "|") {
				t.Errorf("connection %s, request for %s: results %q, want %q", conn.name, d, got, want)
				continue
			}
			if td := conn.got.streams[d][0].Response.TranslatedDestination; td != "sip:"+d+"@gateway.example.com" {
				t.Errorf("connection %s, request for %s: translated destination %q", conn.name, d, td)
			}
		}
	}
	// The requests were run concurrently, not one after the other: several
	// had started before the first one ended.
	started := 0
	for _, r := range gotA.order {
		if r.final() {
			break
		}
		if r.Response.Result.Code == 100 {
			started++
		}
	}
	if started < 2 {
		t.Errorf("only %d request(s) on A started before the first final: the pipelined requests did not run concurrently", started)
	}

	ini.expectSuccess(t, onA+onB)
	referred := map[string]bool{}
	for _, m := range filter(ini.messages(t), received("REFER")) {
		referred[m.header("Refer-To")] = true
	}
	for _, d := range append(destsA, destsB...) {
		if !referred["<sip:"+d+"@gateway.example.com>"] {
			t.Errorf("no REFER to %s", d)
		}
	}
}
