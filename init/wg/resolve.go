package wg

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/homestaker/homestaker-boot/init/english"
	"github.com/homestaker/homestaker-boot/init/panics"
	"github.com/homestaker/homestaker-boot/init/wgconf"
)

// backoff is the wait between attempts to resolve an endpoint: first,
// growing by a fifth each time, at most max.
type backoff struct{ first, max time.Duration }

// The stage's backoff is wg(8)'s: one second, at most twenty. wg(8) gives
// up after 15 retries; here the stage's context is the bound.
const (
	resolveFirstWait = time.Second
	resolveMaxWait   = 20 * time.Second
)

// endpoint is a peer's endpoint as configured and as resolved.
type endpoint struct {
	Configured string         // host:port as in the file
	Addr       netip.AddrPort // invalid when not resolved
	Err        error          // why it is not resolved
}

// resolveEndpoints resolves the endpoint of every peer that has one,
// concurrently, each retried until it resolves, the name is known not to
// exist, or ctx ends, waiting as wait says between attempts. IP literals
// need no resolver. progress is told about each failed attempt that will
// be retried.
func resolveEndpoints(ctx context.Context, conf *wgconf.Config, resolve func(context.Context, string) ([]netip.Addr, error), wait backoff, progress func(format string, args ...any)) map[wgconf.Key]endpoint {
	out := make(map[wgconf.Key]endpoint, len(conf.Peers))
	var mu sync.Mutex // guards out
	var wg sync.WaitGroup
	for _, p := range conf.Peers {
		if p.Endpoint == nil {
			continue
		}
		e := endpoint{Configured: p.Endpoint.String()}
		if ap, ok := p.Endpoint.AddrPort(); ok {
			e.Addr = netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
			mu.Lock()
			out[p.PublicKey] = e
			mu.Unlock()
			continue
		}
		wg.Add(1)
		go func(key wgconf.Key, ep wgconf.Endpoint) {
			defer wg.Done()
			// A bug leaves this endpoint unresolved, the error saying so.
			if err := panics.Run("resolving the endpoint "+ep.Host, progress, func() {
				e.Addr, e.Err = resolveEndpoint(ctx, ep, resolve, wait, progress)
			}); err != nil {
				e.Addr, e.Err = netip.AddrPort{}, fmt.Errorf("resolving %s: %w", ep.Host, err)
			}
			mu.Lock()
			out[key] = e
			mu.Unlock()
		}(p.PublicKey, *p.Endpoint)
	}
	wg.Wait()
	return out
}

// resolveEndpoint resolves one endpoint host name. Like wg(8) it takes
// the resolver's first address (Go's resolver orders them as RFC 6724
// says, which puts an address family without a route last) and stops at
// once on an answer that the name does not exist.
func resolveEndpoint(ctx context.Context, ep wgconf.Endpoint, resolve func(context.Context, string) ([]netip.Addr, error), b backoff, progress func(format string, args ...any)) (netip.AddrPort, error) {
	if resolve == nil {
		resolve = func(ctx context.Context, host string) ([]netip.Addr, error) {
			return net.DefaultResolver.LookupNetIP(ctx, "ip", host)
		}
	}
	wait := b.first
	for attempt := 1; ; attempt++ {
		addrs, err := resolve(ctx, ep.Host)
		if err == nil && len(addrs) > 0 {
			return netip.AddrPortFrom(addrs[0].Unmap(), ep.Port), nil
		}
		if err == nil {
			err = errors.New("no addresses")
		}
		var dnsErr *net.DNSError
		if errors.As(err, &dnsErr) && dnsErr.IsNotFound {
			return netip.AddrPort{}, fmt.Errorf("resolving %s: the name does not exist (%v)", ep.Host, err)
		}
		if ctx.Err() != nil {
			return netip.AddrPort{}, fmt.Errorf("resolving %s: %v; gave up after %d %s when the stage's time ran out", ep.Host, err, attempt, english.Plural(attempt, "attempt", "attempts"))
		}
		progress("resolving endpoint %s: %v; trying again in %s", ep.Host, err, wait.Round(10*time.Millisecond))
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return netip.AddrPort{}, fmt.Errorf("resolving %s: %v; gave up after %d %s when the stage's time ran out", ep.Host, err, attempt, english.Plural(attempt, "attempt", "attempts"))
		case <-t.C:
		}
		wait = min(b.max, wait*6/5)
	}
}
