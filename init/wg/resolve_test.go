package wg

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/homestaker/homestaker-boot/init/wgconf"
)

// fakeResolver answers from a script per host: errors first, then the
// addresses.
type fakeResolver struct {
	mu    sync.Mutex
	calls map[string]int
	fails map[string]int // how many attempts fail before the answer
	err   map[string]error
	addrs map[string][]netip.Addr
}

func (f *fakeResolver) resolve(ctx context.Context, host string) ([]netip.Addr, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.calls == nil {
		f.calls = map[string]int{}
	}
	f.calls[host]++
	if e, ok := f.err[host]; ok && f.calls[host] <= f.fails[host] {
		return nil, e
	}
	if a, ok := f.addrs[host]; ok {
		return a, nil
	}
	return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
}

// fastWait is the tests' backoff: milliseconds where wg(8) waits seconds.
var fastWait = backoff{5 * time.Millisecond, 20 * time.Millisecond}

func TestResolveEndpoints(t *testing.T) {
	t.Parallel()
	timeout := &net.DNSError{Err: "i/o timeout", Name: "slow.example", IsTimeout: true, IsTemporary: true}
	f := &fakeResolver{
		fails: map[string]int{"slow.example": 3},
		err:   map[string]error{"slow.example": timeout},
		addrs: map[string][]netip.Addr{
			"slow.example": {netip.MustParseAddr("192.0.2.1")},
			// The resolver's order is kept (it is RFC 6724's): the first wins.
			"dual.example":   {netip.MustParseAddr("2001:db8::5"), netip.MustParseAddr("192.0.2.5")},
			"mapped.example": {netip.MustParseAddr("::ffff:192.0.2.6")},
		},
	}
	conf := &wgconf.Config{Name: "wg0", Peers: []wgconf.Peer{
		{PublicKey: seqKey(1), Endpoint: &wgconf.Endpoint{Host: "slow.example", Port: 51820}},
		{PublicKey: seqKey(2), Endpoint: &wgconf.Endpoint{Host: "dual.example", Port: 1}},
		{PublicKey: seqKey(3), Endpoint: &wgconf.Endpoint{Host: "gone.example", Port: 2}},
		{PublicKey: seqKey(4), Endpoint: &wgconf.Endpoint{Host: "192.0.2.9", Port: 3}},
		{PublicKey: seqKey(5), Endpoint: &wgconf.Endpoint{Host: "mapped.example", Port: 4}},
		{PublicKey: seqKey(6)},
	}}
	var mu sync.Mutex
	var progress []string
	got := resolveEndpoints(context.Background(), conf, f.resolve, fastWait, func(format string, args ...any) {
		mu.Lock()
		defer mu.Unlock()
		progress = append(progress, format)
	})
	want := map[wgconf.Key]string{
		seqKey(1): "192.0.2.1:51820",
		seqKey(2): "[2001:db8::5]:1",
		seqKey(4): "192.0.2.9:3",
		seqKey(5): "192.0.2.6:4",
	}
	for k, w := range want {
		if e := got[k]; e.Err != nil || e.Addr.String() != w {
			t.Errorf("peer %d: %v, %v; want %s", k[0], e.Addr, e.Err, w)
		}
	}
	if e := got[seqKey(3)]; e.Err == nil || !strings.Contains(e.Err.Error(), "does not exist") || e.Configured != "gone.example:2" {
		t.Errorf("unknown name: %+v, want an error saying it does not exist", e)
	}
	if f.calls["gone.example"] != 1 {
		t.Errorf("a name that does not exist was asked %d times, want once (as wg(8))", f.calls["gone.example"])
	}
	if f.calls["slow.example"] != 4 || len(progress) != 3 {
		t.Errorf("slow.example asked %d times with %d progress lines, want 4 and 3", f.calls["slow.example"], len(progress))
	}
	if _, ok := got[seqKey(6)]; ok {
		t.Errorf("a peer without Endpoint has an endpoint entry")
	}
	if f.calls["192.0.2.9"] != 0 {
		t.Errorf("an IP literal went to the resolver")
	}
}

// A bug in resolving one endpoint (here the resolver panics) leaves that
// endpoint unresolved with an internal error; the others resolve.
func TestResolvePanicFailsTheEndpoint(t *testing.T) {
	t.Parallel()
	f := &fakeResolver{addrs: map[string][]netip.Addr{"good.example": {netip.MustParseAddr("192.0.2.1")}}}
	resolve := func(ctx context.Context, host string) ([]netip.Addr, error) {
		if host == "bad.example" {
			panic("resolver broke")
		}
		return f.resolve(ctx, host)
	}
	conf := &wgconf.Config{Name: "wg0", Peers: []wgconf.Peer{
		{PublicKey: seqKey(1), Endpoint: &wgconf.Endpoint{Host: "good.example", Port: 1}},
		{PublicKey: seqKey(2), Endpoint: &wgconf.Endpoint{Host: "bad.example", Port: 2}},
	}}
	var mu sync.Mutex
	var log []string
	got := resolveEndpoints(context.Background(), conf, resolve, fastWait, func(format string, args ...any) {
		mu.Lock()
		defer mu.Unlock()
		log = append(log, fmt.Sprintf(format, args...))
	})
	if e := got[seqKey(1)]; e.Err != nil || e.Addr.String() != "192.0.2.1:1" {
		t.Errorf("good.example: %+v", e)
	}
	if e := got[seqKey(2)]; e.Addr.IsValid() || e.Err == nil || e.Err.Error() != "resolving bad.example: internal error: resolver broke" || e.Configured != "bad.example:2" {
		t.Errorf("bad.example: %+v, want an internal error", e)
	}
	mu.Lock()
	defer mu.Unlock()
	if text := strings.Join(log, "\n"); !strings.Contains(text, "internal error in resolving the endpoint bad.example: resolver broke") || !strings.Contains(text, "wg.resolveEndpoint(") {
		t.Errorf("log lacks the internal error and its stack:\n%s", text)
	}
}

func TestResolveGivesUpWithTheContext(t *testing.T) {
	t.Parallel()
	f := &fakeResolver{
		fails: map[string]int{"down.example": 1 << 30},
		err:   map[string]error{"down.example": errors.New("connection refused")},
	}
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := resolveEndpoint(ctx, wgconf.Endpoint{Host: "down.example", Port: 1}, f.resolve, fastWait, func(string, ...any) {})
	if err == nil || !strings.Contains(err.Error(), "connection refused") || !strings.Contains(err.Error(), "time ran out") {
		t.Fatalf("error %v", err)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("took %s past a 100ms context", d)
	}
	if f.calls["down.example"] < 3 {
		t.Errorf("asked %d times in 100ms with 5-20ms waits", f.calls["down.example"])
	}
}
