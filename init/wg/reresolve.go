package wg

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"time"

	"github.com/homestaker/homestaker-boot/init/panics"
	"github.com/homestaker/homestaker-boot/init/wgconf"
)

// A hub on dynamic DNS moves; the node's endpoint, resolved once at boot,
// would point at its old address for as long as the boot waits. Like
// wireguard-tools' contrib/reresolve-dns, the tunnel resolves an
// endpoint's host name again when the peer's last handshake is older than
// a threshold, and sets the endpoint when the name's address changed.

// The defaults: reresolve-dns's 135 seconds (a handshake is renewed every
// 2 minutes while traffic flows, so older means the peer is not
// answering), looked at every 30 seconds.
const (
	DefaultReresolveStale = 135 * time.Second
	DefaultReresolveEvery = 30 * time.Second
)

// resolveTimeout bounds one lookup of the watcher.
const resolveTimeout = 10 * time.Second

// Reresolve says when endpoint host names are resolved again; zero fields
// are the defaults.
type Reresolve struct {
	Stale time.Duration // a handshake older than this is stale
	Every time.Duration // how often the handshakes are looked at
	// Off: never (a test that counts on the boot's resolution).
	Off bool
}

func (r Reresolve) withDefaults() Reresolve {
	if r.Stale <= 0 {
		r.Stale = DefaultReresolveStale
	}
	if r.Every <= 0 {
		r.Every = DefaultReresolveEvery
	}
	return r
}

// reresolveDue says whether a peer's endpoint name is to be resolved
// again at now: its last handshake, or the tunnel's start when it had
// none, is older than stale. (reresolve-dns counts a peer without a
// handshake as stale at once; at boot the name was just resolved.)
func reresolveDue(last, upAt, now time.Time, stale time.Duration) bool {
	since := upAt
	if last.After(since) {
		since = last
	}
	return now.Sub(since) > stale
}

// endpointMoved says whether resolved differs from the endpoint the
// device uses now ("" when it has none).
func endpointMoved(current string, resolved netip.AddrPort) bool {
	if !resolved.IsValid() {
		return false
	}
	cur, err := netip.ParseAddrPort(current)
	if err != nil {
		return true
	}
	return netip.AddrPortFrom(cur.Addr().Unmap(), cur.Port()) != netip.AddrPortFrom(resolved.Addr().Unmap(), resolved.Port())
}

// watchEndpoints resolves the endpoints with host names again as rr
// says, until ctx ends.
func (t *Tunnel) watchEndpoints(ctx context.Context, rr Reresolve, resolve func(context.Context, string) ([]netip.Addr, error)) {
	if resolve == nil {
		resolve = func(ctx context.Context, host string) ([]netip.Addr, error) {
			return net.DefaultResolver.LookupNetIP(ctx, "ip", host)
		}
	}
	type named struct {
		key wgconf.Key
		ep  wgconf.Endpoint
	}
	var peers []named
	for _, p := range t.conf.Peers {
		if p.Endpoint == nil {
			continue
		}
		if _, literal := p.Endpoint.AddrPort(); !literal {
			peers = append(peers, named{p.PublicKey, *p.Endpoint})
		}
	}
	if len(peers) == 0 {
		return
	}
	lastErr := map[wgconf.Key]string{} // said once until it changes
	tick := time.NewTicker(rr.Every)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		st, err := readDevice(t.dev, t.conf.Name)
		if err != nil {
			continue // closed under us, or a bug the stage reported
		}
		now := time.Now()
		for _, p := range peers {
			i := slices.IndexFunc(st.Peers, func(s peerState) bool { return s.PublicKey == p.key })
			if i < 0 || !reresolveDue(st.Peers[i].LastHandshake, t.upAt, now, rr.Stale) {
				continue
			}
			rctx, cancel := context.WithTimeout(ctx, resolveTimeout)
			addrs, err := resolve(rctx, p.ep.Host)
			cancel()
			if ctx.Err() != nil {
				return
			}
			if err == nil && len(addrs) == 0 {
				err = fmt.Errorf("no addresses")
			}
			if err != nil {
				if msg := err.Error(); lastErr[p.key] != msg {
					lastErr[p.key] = msg
					t.rec.Printf("peer %s: no handshake for %s; resolving its Endpoint %s again: %v", p.key, seconds(rr.Stale), p.ep, err)
				}
				continue
			}
			delete(lastErr, p.key)
			ap := netip.AddrPortFrom(addrs[0].Unmap(), p.ep.Port)
			if !endpointMoved(st.Peers[i].Endpoint, ap) {
				continue
			}
			if err := t.moveEndpoint(p.key, ap); err != nil {
				t.rec.Printf("peer %s: Endpoint %s resolves to %s now; setting it: %v", p.key, p.ep, ap, err)
				continue
			}
			was := st.Peers[i].Endpoint
			if was == "" {
				was = "none"
			}
			t.rec.Printf("peer %s: Endpoint %s resolves to %s now (was %s, no handshake for more than %s); endpoint updated", p.key, p.ep, ap, was, seconds(rr.Stale))
		}
	}
}

// moveEndpoint sets the peer's endpoint, keeps the tunnel's own packets to
// it out of the tunnel (the endpoint host routes), and asks for a
// handshake there.
func (t *Tunnel) moveEndpoint(key wgconf.Key, ap netip.AddrPort) error {
	// A public key and an address: nothing secret in this UAPI text.
	if err := ipcSet(t.dev, t.conf.Name, fmt.Sprintf("public_key=%s\nupdate_only=true\nendpoint=%s\n", key.Hex(), ap)); err != nil {
		return err
	}
	t.epMu.Lock()
	e := t.endpoints[key]
	e.Addr, e.Err = ap, nil
	t.endpoints[key] = e
	resolved := map[wgconf.Key]netip.AddrPort{}
	for k, e := range t.endpoints {
		if e.Addr.IsValid() {
			resolved[k] = e.Addr
		}
	}
	t.epMu.Unlock()
	err := t.followHostRoutes(resolved)
	startHandshakes(t.dev, []wgconf.Key{key})
	return err
}

// followHostRoutes plans the routes again for the endpoints now and puts
// the endpoint host routes in line: new ones added, gone ones removed.
func (t *Tunnel) followHostRoutes(resolved map[wgconf.Key]netip.AddrPort) error {
	if !t.routed {
		return nil
	}
	routes, err := PlanRoutes(t.conf, resolved, t.gw, t.gwLink)
	if err != nil {
		return err
	}
	var hosts []Route
	for _, r := range routes {
		if r.Dev != t.conf.Name {
			hosts = append(hosts, r)
		}
	}
	t.epMu.Lock()
	old := t.hostRoutes
	t.epMu.Unlock()
	var keep []Route
	for _, r := range hosts {
		if !slices.Contains(old, r) {
			if _, err := addRoute(r, t.conf.Name); err != nil {
				return err
			}
		}
		keep = append(keep, r)
	}
	for _, r := range old {
		if !slices.Contains(hosts, r) {
			if err := deleteRoute(r); err != nil {
				return err
			}
		}
	}
	t.epMu.Lock()
	t.hostRoutes = keep
	t.epMu.Unlock()
	return nil
}

// startWatch runs watchEndpoints until Close.
func (t *Tunnel) startWatch(o Options) {
	rr := o.Reresolve.withDefaults()
	if rr.Off {
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	t.stopWatch = func() {
		cancel()
		<-done
	}
	go func() {
		defer close(done)
		_ = panics.Run("re-resolving the endpoints of "+t.conf.Name, t.rec.Printf, func() { t.watchEndpoints(ctx, rr, o.Resolve) })
	}()
}
