package transport

import (
	"bytes"
	"fmt"
	"net/netip"
	"reflect"
	"runtime"
	"testing"
	"time"
)

func TestLingerFindsWhatItKeptUntilItExpires(t *testing.T) {
	l := newLinger(time.Minute)
	dests := []destination{
		{transport: "UDP", addr: netip.MustParseAddrPort("192.0.2.7:5060")},
		{transport: "TCP", addr: netip.MustParseAddrPort("[2001:db8::1]:5070")},
		{transport: "UDP", addr: netip.MustParseAddrPort("[fe80::1%eth0]:5080")},
		{transport: "TLS", addr: netip.MustParseAddrPort("[::ffff:192.0.2.9]:5061")},
	}
	keys := []lingerKey{
		{branch: "z9hG4bK1", method: "INVITE", callID: "a@h"},
		{branch: "z9hG4bK1", method: "BYE", callID: "a@h"},        // another method, same branch
		{branch: "z9hG4bK1", toTag: "t1", callID: "a@h"},          // a response's key
		{branch: "z9hG4bK1", method: "INVITE", callID: "b@h"},     // a branch reused in another call
		{branch: "z9hG4bK1", method: "INVITE\x00", callID: "a@h"}, // not mistaken for the first
	}
	for i, k := range keys {
		l.keep(k, []byte(fmt.Sprintf("message %d", i)), dests[i%len(dests)])
	}
	for i, k := range keys {
		e := l.lookup(k)
		if e == nil {
			t.Fatalf("key %d not found", i)
		}
		if want := fmt.Sprintf("message %d", i); string(e.raw) != want || e.dest != dests[i%len(dests)] {
			t.Errorf("key %d: %q to %+v, want %q to %+v", i, e.raw, e.dest, want, dests[i%len(dests)])
		}
	}
	if e := l.lookup(lingerKey{branch: "z9hG4bK2", method: "INVITE", callID: "a@h"}); e != nil {
		t.Errorf("a key never kept found %q", e.raw)
	}
	// A newer entry under a key replaces the older; the older expiring
	// first does not take the newer with it.
	l.keep(keys[0], []byte("200 after the 100"), dests[0])
	l.sweep(time.Now().Add(time.Minute - time.Second))
	if e := l.lookup(keys[0]); e == nil || string(e.raw) != "200 after the 100" {
		t.Fatalf("after a replacement: %+v, want the newer message", e)
	}
	l.sweep(time.Now().Add(time.Minute + time.Second))
	for i, k := range keys {
		if e := l.lookup(k); e != nil {
			t.Errorf("key %d found after the linger: %q", i, e.raw)
		}
	}
	if len(l.index) != 0 || len(l.chunks) > 1 {
		t.Errorf("after everything expired: %d keys indexed, %d chunks kept", len(l.index), len(l.chunks))
	}
}

func TestLingerFreesItsChunksAsTheyExpire(t *testing.T) {
	l := newLinger(time.Minute)
	dest := destination{transport: "UDP", addr: netip.MustParseAddrPort("192.0.2.7:5060")}
	key := func(i int) lingerKey {
		return lingerKey{branch: fmt.Sprint("z9hG4bK", i), method: "INVITE", callID: "c"}
	}
	const n = 5*lingerChunkLen + 10
	for i := range n {
		l.keep(key(i), bytes.Repeat([]byte{byte(i)}, 300), dest)
	}
	if len(l.chunks) != 6 {
		t.Fatalf("%d entries in %d chunks, want 6", n, len(l.chunks))
	}
	// Expire the first 3.5 chunks' worth: their chunks go, the rest is found.
	for i := range l.chunks[3].recs[:lingerChunkLen/2] {
		l.chunks[3].recs[i].expires = 0
	}
	for _, c := range l.chunks[:3] {
		for i := range c.recs {
			c.recs[i].expires = 0
		}
	}
	kept := l.lookup(key(0)) // handed out before its chunk goes
	l.sweep(time.Now())
	if len(l.chunks) != 3 || l.head != 3*lingerChunkLen+lingerChunkLen/2 {
		t.Fatalf("after the sweep: %d chunks, head %d; want 3 and %d", len(l.chunks), l.head, 3*lingerChunkLen+lingerChunkLen/2)
	}
	if kept == nil || !bytes.Equal(kept.raw, bytes.Repeat([]byte{0}, 300)) {
		t.Errorf("a message handed out before its chunk was swept changed")
	}
	for _, i := range []int{0, 3*lingerChunkLen + lingerChunkLen/2 - 1} {
		if e := l.lookup(key(i)); e != nil {
			t.Errorf("entry %d found after it expired", i)
		}
	}
	for _, i := range []int{3*lingerChunkLen + lingerChunkLen/2, n - 1} {
		if e := l.lookup(key(i)); e == nil || !bytes.Equal(e.raw, bytes.Repeat([]byte{byte(i)}, 300)) {
			t.Errorf("entry %d: %v, want its message", i, e)
		}
	}
	if len(l.index) != n-(3*lingerChunkLen+lingerChunkLen/2) {
		t.Errorf("%d keys indexed, want %d", len(l.index), n-(3*lingerChunkLen+lingerChunkLen/2))
	}
}

// The point of the layout: what lingers holds no pointers but its chunks'
// arenas, so the garbage collector does not look into it.
func TestLingerRecordsHoldNoPointers(t *testing.T) {
	var walk func(reflect.Type) bool
	walk = func(ty reflect.Type) bool {
		switch ty.Kind() {
		case reflect.Pointer, reflect.String, reflect.Slice, reflect.Map, reflect.Interface, reflect.Chan, reflect.Func, reflect.UnsafePointer:
			return true
		case reflect.Array:
			return walk(ty.Elem())
		case reflect.Struct:
			for i := range ty.NumField() {
				if walk(ty.Field(i).Type) {
					return true
				}
			}
		}
		return false
	}
	for _, ty := range []reflect.Type{reflect.TypeFor[lingerRec](), reflect.TypeFor[uint64]()} {
		if walk(ty) {
			t.Errorf("%v holds a pointer", ty)
		}
	}
	if ty := reflect.TypeFor[lingerChunk](); ty.Field(0).Name != "data" || walk(ty.Field(1).Type) {
		t.Errorf("lingerChunk: want its arena first and pointer-free records after it")
	}
}

// BenchmarkLingerGC times a full collection with 300,000 entries lingering
// (about 30 s of a server at 2,000 calls/s): go test -run '^$' -bench
// LingerGC ./transport
func BenchmarkLingerGC(b *testing.B) {
	l := newLinger(time.Hour)
	dest := destination{transport: "UDP", addr: netip.MustParseAddrPort("192.0.2.7:5060")}
	msg := bytes.Repeat([]byte("x"), 400)
	for i := range 300_000 {
		l.keep(lingerKey{branch: fmt.Sprint("z9hG4bK", i), method: "INVITE", callID: fmt.Sprint(i, "@host")}, msg, dest)
	}
	b.ResetTimer()
	for b.Loop() {
		runtime.GC()
	}
	b.StopTimer()
	if l.lookup(lingerKey{branch: "z9hG4bK7", method: "INVITE", callID: "7@host"}) == nil {
		b.Fatal("lost an entry")
	}
}
