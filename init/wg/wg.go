// Package wg is the init's WireGuard stage: it brings up wg0.conf's
// interface as a userspace wireguard-go tunnel on a kernel TUN, with its
// addresses, routes and DNS, and waits for a handshake. Route planning and
// the UAPI text are pure functions; the TUN and netlink calls sit in
// kernel.go. Nothing here prints a private or preshared key.
package wg

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"sync"
	"time"

	"golang.zx2c4.com/wireguard/conn"
	"golang.zx2c4.com/wireguard/device"
	"golang.zx2c4.com/wireguard/tun"

	"github.com/homestaker/homestaker-boot/init/english"
	"github.com/homestaker/homestaker-boot/init/report"
	"github.com/homestaker/homestaker-boot/init/resolvconf"
	"github.com/homestaker/homestaker-boot/init/wgconf"
)

// DefaultMTU is the interface's MTU when wg0.conf has none: wg-quick's
// fallback, and wireguard-go's. (wg-quick derives it from the route to
// the endpoints first; at boot the underlying link is Ethernet, where
// that gives the same 1420.)
const DefaultMTU = 1420

// Options say how the tunnel fits the network the network stage set up.
type Options struct {
	// ResolvConf is the resolver configuration to add the file's DNS
	// servers to (/etc/resolv.conf); "" leaves DNS alone.
	ResolvConf string
	// Gateway and GatewayLink are the underlying network's default
	// gateway and its link, for the endpoint host routes. When both are
	// unset, the main table's IPv4 default route is used.
	Gateway     netip.Addr
	GatewayLink string
	// Resolve resolves endpoint host names; nil is net.DefaultResolver.
	Resolve func(ctx context.Context, host string) ([]netip.Addr, error)
	// Reresolve says when endpoint host names are resolved again after
	// Up (reresolve.go); zero is wireguard-tools' reresolve-dns.
	Reresolve Reresolve

	// Set by tests: the TUN clone device ("" is tunDevice) and the wait
	// between attempts to resolve an endpoint (zero is wg(8)'s).
	tunPath     string
	resolveWait backoff
}

// Tunnel is a running userspace WireGuard interface.
type Tunnel struct {
	conf      *wgconf.Config
	dev       *device.Device
	rec       report.Recorder
	log       *deviceLog
	epMu      sync.Mutex              // guards endpoints and hostRoutes once Up has returned
	endpoints map[wgconf.Key]endpoint // configured endpoints, resolved or not
	began     time.Time               // Up was called: the stage's timeout runs from about here
	upAt      time.Time               // the device went up: handshake times count from here

	// What Up changed outside the interface, for Close to undo. The
	// interface's own addresses and routes go with it.
	hostRoutes []Route
	resolv     *resolvConfChange
	// The underlying gateway the host routes go through, and whether Up
	// installed the routes, for an endpoint that moves.
	gw        netip.Addr
	gwLink    string
	routed    bool
	stopWatch func() // ends the endpoint watch; nil when none runs

	closeOnce sync.Once
	closeErr  error
}

// Up creates the interface conf.Name as wireguard-go on a kernel TUN,
// configures it through its UAPI, brings it up with its addresses, routes
// (see PlanRoutes) and MTU, and adds its DNS servers to o.ResolvConf. It
// does not wait for a handshake: WaitHandshake does. Hooks (PreUp,
// PostUp, PreDown, PostDown) are not run; one warning says so.
func Up(ctx context.Context, conf *wgconf.Config, o Options, rec report.Recorder) (*Tunnel, error) {
	t, resolved, err := newTunnel(ctx, conf, o, rec)
	if err != nil {
		return nil, err
	}
	mtu := conf.Interface.MTU
	if mtu == 0 {
		mtu = DefaultMTU
	}
	tunPath := o.tunPath
	if tunPath == "" {
		tunPath = tunDevice
	}
	tdev, err := createTUN(tunPath, conf.Name, mtu)
	if err != nil {
		return nil, err
	}
	fail := func(err error) (*Tunnel, error) {
		t.Close()
		return nil, err
	}
	if err := t.startDevice(tdev, resolved); err != nil {
		return fail(err)
	}
	// The device goes up with its link: handshake times count from here.
	t.upAt = time.Now()
	if err := configureLink(conf.Name, conf.Interface.Addresses); err != nil {
		return fail(err)
	}
	// The TUN reports its link going up and wireguard-go follows, but only
	// an explicit Up returns the error of a ListenPort already in use.
	if err := t.dev.Up(); err != nil {
		return fail(fmt.Errorf("bringing %s up: %s", conf.Name, wgconf.Redact(err.Error())))
	}

	gw, gwLink := o.Gateway, o.GatewayLink
	if !gw.IsValid() && gwLink == "" {
		gw, gwLink = defaultGateway()
	}
	routes, err := PlanRoutes(conf, resolved, gw, gwLink)
	if err != nil {
		return fail(fmt.Errorf("routes for %s: %v", conf.Name, err))
	}
	t.gw, t.gwLink, t.routed = gw, gwLink, true
	for _, r := range routes {
		added, err := addRoute(r, conf.Name)
		if err != nil {
			return fail(err)
		}
		if !added {
			t.rec.Warn("route %s: a route to %s already exists in that table (from the network stage?); left as it is", r, r.Dst)
			continue
		}
		if r.Dev != conf.Name {
			t.hostRoutes = append(t.hostRoutes, r)
		}
	}

	ifc := &conf.Interface
	if o.ResolvConf != "" && len(ifc.DNS)+len(ifc.DNSSearch) > 0 {
		change, ignored, err := writeResolvConf(o.ResolvConf, conf.Name, ifc.DNS, ifc.DNSSearch)
		if err != nil {
			return fail(err)
		}
		t.resolv = change
		if len(ignored) > 0 {
			t.rec.Printf("%s: resolvers read the first %d nameservers only; %s will not be asked", o.ResolvConf, resolvconf.MaxNameservers, strings.Join(ignored, ", "))
		}
	}

	st, err := readDevice(t.dev, conf.Name)
	if err != nil {
		return fail(err)
	}
	t.rec.Fact("interface", interfaceFact{
		Name:       conf.Name,
		PublicKey:  conf.PublicKey().String(),
		Addresses:  prefixStrings(ifc.Addresses),
		ListenPort: st.ListenPort,
		MTU:        mtu,
		Routes:     routeStrings(routes),
		DNS:        addrStrings(ifc.DNS),
	})
	t.rec.Summary("%s %s up, waiting for a handshake", conf.Name, joinPrefixes(ifc.Addresses))
	t.startWatch(o)
	return t, nil
}

// newTunnel starts a Tunnel for conf: it says that the hooks are not run
// and resolves the endpoints. Up and the tests share it.
func newTunnel(ctx context.Context, conf *wgconf.Config, o Options, rec report.Recorder) (*Tunnel, map[wgconf.Key]netip.AddrPort, error) {
	if conf == nil || conf.Name == "" {
		return nil, nil, errors.New("wireguard: no configuration to bring up")
	}
	if rec == nil {
		rec = report.Discard
	}
	t := &Tunnel{conf: conf, rec: rec, began: time.Now()}
	if n := len(conf.Interface.Hooks); n > 0 {
		var where []string
		for _, h := range conf.Interface.Hooks {
			where = append(where, fmt.Sprintf("%s on line %d", h.Kind, h.Line))
		}
		t.rec.Warn("%s.conf has %d %s (%s): PreUp/PostUp/PreDown/PostDown are not run at boot; the init sets up addresses, routes and DNS itself", conf.Name, n, english.Plural(n, "hook", "hooks"), strings.Join(where, ", "))
	}
	wait := o.resolveWait
	if wait == (backoff{}) {
		wait = backoff{resolveFirstWait, resolveMaxWait}
	}
	t.endpoints = resolveEndpoints(ctx, conf, o.Resolve, wait, t.rec.Printf)
	resolved, err := t.resolvedEndpoints()
	if err != nil {
		return nil, nil, err
	}
	return t, resolved, nil
}

// startDevice runs wireguard-go on tdev, configured from the file with the
// resolved endpoints. The device goes up when its TUN does (a netstack TUN
// at once, a kernel TUN when its link is set up). Up and the tests share it.
func (t *Tunnel) startDevice(tdev tun.Device, resolved map[wgconf.Key]netip.AddrPort) error {
	t.log = &deviceLog{printf: t.rec.Printf}
	t.dev = device.NewDevice(tdev, conn.NewDefaultBind(), t.log.logger())
	return configureDevice(t.dev, t.conf, resolved)
}

// resolvedEndpoints returns the addresses of the endpoints that resolved,
// warning about the others. It fails when peers have endpoints and none
// resolved: nobody could be called.
func (t *Tunnel) resolvedEndpoints() (map[wgconf.Key]netip.AddrPort, error) {
	out := map[wgconf.Key]netip.AddrPort{}
	var failed []string
	for _, p := range t.conf.Peers {
		e, ok := t.endpoints[p.PublicKey]
		if !ok {
			continue
		}
		if e.Err != nil {
			failed = append(failed, fmt.Sprintf("peer %s: Endpoint %s: %v", p.PublicKey, e.Configured, e.Err))
			continue
		}
		out[p.PublicKey] = e.Addr
	}
	if len(failed) > 0 && len(out) == 0 {
		return nil, report.Fail(
			fmt.Sprintf("the Endpoint of a peer of %s resolved to an address", t.conf.Name),
			strings.Join(failed, "\n"),
			"check the Endpoint host names in "+t.conf.Name+".conf and the DNS servers the network stage found (/etc/resolv.conf); an IP address as Endpoint needs no DNS; homestaker.wg=optional boots without the tunnel")
	}
	for _, f := range failed {
		t.rec.Warn("%s; the peer is configured without an endpoint", f)
	}
	return out, nil
}

// Close brings the device down and removes the interface (before kexec,
// or when the boot goes on without the tunnel), then what Up changed
// outside it: the endpoint host routes and resolv.conf.
func (t *Tunnel) Close() error {
	t.closeOnce.Do(func() {
		var errs []string
		if t.stopWatch != nil {
			t.stopWatch()
		}
		if t.dev != nil {
			// Closing the TUN removes the interface, its addresses and
			// its routes.
			t.dev.Close()
		}
		for _, r := range t.hostRoutes {
			if err := deleteRoute(r); err != nil {
				errs = append(errs, err.Error())
			}
		}
		if t.resolv != nil {
			if err := t.resolv.undo(); err != nil {
				errs = append(errs, err.Error())
			}
		}
		if len(errs) > 0 {
			t.closeErr = fmt.Errorf("closing %s: %s", t.conf.Name, strings.Join(errs, "; "))
		}
	})
	return t.closeErr
}

// Name is the interface's name.
func (t *Tunnel) Name() string { return t.conf.Name }

// Addresses are the interface's addresses, for services that listen on
// the tunnel only (rescue SSH).
func (t *Tunnel) Addresses() []netip.Prefix { return t.conf.Interface.Addresses }

// interfaceFact is the report's view of the interface: public facts only.
type interfaceFact struct {
	Name       string   `json:"name"`
	PublicKey  string   `json:"public_key"`
	Addresses  []string `json:"addresses"`
	ListenPort int      `json:"listen_port"`
	MTU        int      `json:"mtu"`
	Routes     []string `json:"routes"`
	DNS        []string `json:"dns,omitempty"`
}

func joinPrefixes(ps []netip.Prefix) string {
	if len(ps) == 0 {
		return "(no address)"
	}
	return strings.Join(prefixStrings(ps), ",")
}

func prefixStrings(ps []netip.Prefix) []string {
	out := make([]string, 0, len(ps))
	for _, p := range ps {
		out = append(out, p.String())
	}
	return out
}

func addrStrings(as []netip.Addr) []string {
	out := make([]string, 0, len(as))
	for _, a := range as {
		out = append(out, a.String())
	}
	return out
}

func routeStrings(rs []Route) []string {
	out := make([]string, 0, len(rs))
	for _, r := range rs {
		out = append(out, r.String())
	}
	return out
}
