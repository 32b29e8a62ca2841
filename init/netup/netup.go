// Package netup is the boot's network stage: it brings up lo and the
// NICs, gets an IPv4 address by DHCP on every NIC at once (or sets the
// static address of ip=), writes resolv.conf, sets the hostname, and then
// the clock by SNTP, which TLS and the Engine API's JWT depend on.
package netup

import (
	"context"
	"net/netip"
	"slices"
	"sync"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4/nclient4"

	"github.com/homestaker/homestaker-boot/init/config"
	"github.com/homestaker/homestaker-boot/init/panics"
	"github.com/homestaker/homestaker-boot/init/report"
	"github.com/homestaker/homestaker-boot/init/resolvconf"
)

// State is what the network stage brought up; the WireGuard stage and the
// report use it.
type State struct {
	Links       []Link     // every link handled, lo aside
	Gateway     netip.Addr // default gateway (first lease or static)
	GatewayLink string
	DNS         []netip.Addr
	Hostname    string
	NTP         []string // servers used
	// LeaseAfter is the time from the stage's start to the first address,
	// for the boot timeline's benchmark.
	LeaseAfter time.Duration

	keeper *leaseKeeper // renews the leases after the stage (keeper.go)
}

// Link is one link the stage handled.
type Link struct {
	Name    string         `json:"name"`
	MAC     string         `json:"mac,omitempty"`
	Carrier bool           `json:"carrier"`
	Method  string         `json:"method"` // MethodDHCP, MethodStatic, MethodOff
	Addrs   []netip.Prefix `json:"addrs,omitempty"`
	Err     string         `json:"error,omitempty"` // what went wrong, when the link has no address
}

// Options are the stage's paths and permissions; tests change them.
type Options struct {
	ResolvConf  string // default /etc/resolv.conf
	SetClock    bool   // step the clock when NTP says it is more than 1s off
	SysClassNet string // default /sys/class/net
	// LeaseChanged, if set, is told the report's new lease fact when a
	// renewal or a new lease changes it, after the stage has ended.
	LeaseChanged func(key string, fact any)

	// noIPv6 disables IPv6 on the links instead of autoconfiguring it:
	// the baseline of the benchmark of its cost.
	noIPv6 bool

	// linkStarted, if set, is called first in each link's goroutine; a
	// test makes it panic for one link.
	linkStarted func(name string)
}

// otherLinksGrace is how long links still asking for a lease may go on
// after the first link has its address. Links without a carrier by then
// are not waited for: a spare port without a cable must not cost every
// boot its timeout.
const otherLinksGrace = 2 * time.Second

// run is one execution of the stage.
type run struct {
	o     Options
	rec   report.Recorder
	start time.Time

	firstOK chan struct{} // closed when a link has an address and a carrier
	okOnce  sync.Once

	mu sync.Mutex // guards the fields below: what the first lease or ip= claimed
	// routesBy is the link whose routes (the default route) are
	// installed: a static gateway, else the first lease with a router.
	routesBy   string
	dnsBy      string // the link whose lease's DNS servers are resolv.conf's
	gateway    netip.Addr
	dns        []netip.Addr
	search     []string
	hostname   string
	ntp        []netip.Addr // option 42 of the first lease that has it
	first      *leaseFact
	firstTimes leaseTimes
	firstAt    time.Duration
}

// Up runs the stage: lo and the NICs up, a carrier, DHCPv4 on all links
// concurrently (ip=dhcp, the default) or the static ip=, DNS to
// resolv.conf, the hostname, then the clock. ctx bounds it (the plan gives
// it homestaker.timeout.net); NTP failing is a warning, not a failure.
func Up(ctx context.Context, cfg config.Config, rec report.Recorder, o Options) (*State, error) {
	if o.ResolvConf == "" {
		o.ResolvConf = "/etc/resolv.conf"
	}
	if o.SysClassNet == "" {
		o.SysClassNet = "/sys/class/net"
	}
	r := &run{o: o, rec: rec, start: time.Now(), firstOK: make(chan struct{})}
	if len(cfg.IP) == 0 {
		cfg.IP = []config.IPConfig{{Mode: config.IPDHCP, Raw: "dhcp"}}
	}
	if err := loopbackUp(); err != nil {
		rec.Warn("%v", err)
	}
	if offEverywhere(cfg.IP) {
		return networkOff(rec, "ip="+cfg.IP[0].Raw, nil), nil
	}
	if err := prepareLinks(ctx, cfg); err != nil {
		return nil, err
	}
	plans, err := waitInterfaces(ctx, o.SysClassNet, cfg.IP, cfg.VLANs)
	if err != nil {
		return nil, err
	}
	runs := make([]*linkRun, len(plans))
	var active []*linkRun
	for i, p := range plans {
		runs[i] = &linkRun{plan: p}
		if p.Method != MethodOff {
			active = append(active, runs[i])
		}
	}
	if len(active) == 0 {
		return networkOff(rec, "every link named by ip= is off", runs), nil
	}

	// What the command line says wins over any lease.
	for _, ip := range cfg.IP {
		r.dns = append(r.dns, ip.DNS...)
		if r.hostname == "" {
			r.hostname = ip.Hostname
		}
	}

	carrierCtx, stopCarrier := context.WithCancel(ctx)
	defer stopCarrier()
	dhcpCtx, stopDHCP := context.WithCancel(ctx)
	defer stopDHCP()
	var wg sync.WaitGroup
	for _, l := range active {
		wg.Go(func() {
			// A bug fails this link only: the stage goes on with the
			// others, or names it among the links that failed.
			what := "bringing up " + l.plan.Name
			if err := panics.Run(what, r.rec.Printf, func() { r.link(carrierCtx, dhcpCtx, l) }); err != nil {
				l.internalErr = err.Error()
			}
		})
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = panics.Run("waiting for the links", r.rec.Printf, wg.Wait)
	}()
	select {
	case <-done:
	case <-r.firstOK:
		stopCarrier()
		t := time.NewTimer(otherLinksGrace)
		select {
		case <-done:
		case <-t.C:
			stopDHCP()
			<-done
		}
		t.Stop()
	}

	noteSLAAC(runs)
	st := r.state(runs)
	rec.Fact("links", st.Links)
	if !slices.ContainsFunc(runs, (*linkRun).ok) {
		return st, failure(active)
	}
	for _, l := range active {
		switch {
		case l.ok():
		case l.plan.Named:
			rec.Warn("%s", l.describe())
		default:
			rec.Printf("%s", l.describe())
		}
	}
	if r.first != nil {
		r.first.setTimes(r.firstTimes)
		rec.Fact("lease", r.first)
	}
	rec.Fact("lease_after_ms", st.LeaseAfter.Milliseconds())

	if len(st.DNS) == 0 {
		rec.Warn("no DNS server from the lease or ip=: host names (WireGuard endpoints, NTP servers, http sources) will not resolve")
	}
	if err := resolvconf.Write(o.ResolvConf, renderResolvConf(st.DNS, r.search)); err != nil {
		rec.Warn("%v", err)
	}
	if st.Hostname != "" {
		if err := setHostname(st.Hostname); err != nil {
			rec.Warn("%v", err)
		}
	}

	st.NTP = ntpServers(cfg.NTP, cfg.IP, r.ntp)
	network := "ip6"
	for _, l := range st.Links {
		for _, a := range l.Addrs {
			if a.Addr().Is4() {
				network = "ip4"
			}
		}
	}
	res, err := checkClock(ctx, st.NTP, st.DNS, network, o.SetClock)
	if err != nil {
		// res is set when a server answered but stepping the clock failed.
		rec.Warn("no time from NTP (%v); the clock says %s, and TLS certificates and the Engine API's JWT depend on it being right", err, time.Now().UTC().Format(time.RFC3339))
	}
	if res != nil {
		rec.Fact("ntp", res)
		if res.NotStepped != "" {
			rec.Warn("the clock was not set: %s; it says %s", res.NotStepped, time.Now().UTC().Format(time.RFC3339))
		}
	}
	rec.Summary("%s", summarize(runs, st.Gateway, res))
	st.keeper = r.keepLeases(runs)
	return st, nil
}

// networkOff is the stage's result when ip= leaves every link off.
func networkOff(rec report.Recorder, why string, runs []*linkRun) *State {
	rec.Warn("%s: only lo is up; the WireGuard tunnel and http(s) next-stage sources will not work", why)
	rec.Summary("network off (%s): only lo is up", why)
	st := &State{}
	for _, l := range runs {
		st.Links = append(st.Links, Link{Name: l.plan.Name, Method: l.plan.Method})
	}
	return st
}

// link brings one link up and configures it.
func (r *run) link(carrierCtx, dhcpCtx context.Context, l *linkRun) {
	if r.o.linkStarted != nil {
		r.o.linkStarted(l.plan.Name)
	}
	ip := l.plan.IP
	setMAC := ip.MAC
	if !l.plan.Named {
		setMAC = nil // one MAC address for every NIC would be a conflict
	}
	if l.plan.Method != MethodStatic {
		if err := enableIPv6(l.plan.Name, r.o.noIPv6); err != nil {
			l.v6.off = err.Error()
		}
	}
	mac, err := setUpLink(l.plan.Name, setMAC, ip.MTU)
	if err != nil {
		l.setupErr = err.Error()
		return
	}
	l.mac = mac
	if l.plan.Method == MethodStatic {
		// The address goes on at once; routes on a link without a
		// carrier are accepted and work when the cable is in.
		if err := r.applyStatic(l); err != nil {
			l.applyErr = err.Error()
			return
		}
	}
	if !waitCarrier(carrierCtx, r.o.SysClassNet, l.plan.Name) {
		return
	}
	l.carrier = true
	switch {
	case l.plan.Method == MethodStatic:
		r.succeeded()
	case l.v6.off != "" && (l.plan.Method == MethodAuto6 || l.plan.Method == MethodDHCP6):
	case l.plan.Method == MethodAuto6:
		r.slaac(dhcpCtx, l)
	case l.plan.Method == MethodDHCP6:
		r.dhcp6(dhcpCtx, l)
	default:
		r.dhcp(dhcpCtx, l)
	}
}

func (r *run) applyStatic(l *linkRun) error {
	ip, name := l.plan.IP, l.plan.Name
	if err := addAddr(name, ip.Client, netip.Addr{}); err != nil {
		return err
	}
	l.addrs = append(l.addrs, ip.Client)
	l.after = time.Since(r.start)
	r.mu.Lock()
	r.noteAddress(l.after)
	claim := r.routesBy == "" && ip.Gateway.IsValid()
	if claim {
		r.routesBy, r.gateway = name, ip.Gateway
	}
	r.mu.Unlock()
	if claim {
		if err := addRoutes(name, routesVia(ip.Client, ip.Gateway)); err != nil {
			r.releaseRoutes()
			return err
		}
	}
	return nil
}

// applyLease configures the link from its lease. The first lease sets the
// default route, DNS and hostname; later ones add only their address (the
// route to their subnet comes with it).
func (r *run) applyLease(l *linkRun, ls lease, kept *nclient4.Lease) error {
	name := l.plan.Name
	if ls.MTU > 0 && l.plan.IP.MTU == 0 {
		if err := setMTU(name, ls.MTU); err != nil {
			r.rec.Warn("%s: the lease's MTU %d: %v", name, ls.MTU, err)
		}
	}
	if err := addAddr(name, ls.Addr, ls.Broadcast); err != nil {
		return err
	}
	l.addrs = append(l.addrs, ls.Addr)
	l.lease, l.kept = &ls, kept
	l.after = time.Since(r.start)

	routes := ls.routes()
	r.mu.Lock()
	r.noteAddress(l.after)
	claim := r.routesBy == "" && len(routes) > 0
	if claim {
		r.routesBy, r.gateway = name, ls.gateway()
	}
	if len(r.dns) == 0 {
		r.dns, r.dnsBy = ls.DNS, name
	}
	if len(r.search) == 0 {
		r.search = ls.Search
	}
	if r.hostname == "" {
		r.hostname = ls.Hostname
	}
	if len(r.ntp) == 0 {
		r.ntp = ls.NTP
	}
	if r.first == nil {
		f := newLeaseFact(name, &ls, l.after)
		r.first, r.firstTimes = &f, timesOf(kept.ACK, kept.CreationTime)
	}
	r.mu.Unlock()
	if claim {
		if err := addRoutes(name, routes); err != nil {
			r.releaseRoutes()
			r.rec.Warn("%s: %v", name, err)
		}
	}
	r.succeeded()
	return nil
}

// noteAddress records the first address's time; r.mu is held.
func (r *run) noteAddress(after time.Duration) {
	if r.firstAt == 0 {
		r.firstAt = after
	}
}

// releaseRoutes lets another link's lease set the default route after
// this one's failed.
func (r *run) releaseRoutes() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.routesBy, r.gateway = "", netip.Addr{}
}

func (r *run) succeeded() { r.okOnce.Do(func() { close(r.firstOK) }) }

// state is the stage's result; every link goroutine has ended.
func (r *run) state(runs []*linkRun) *State {
	r.mu.Lock()
	defer r.mu.Unlock()
	st := &State{Gateway: r.gateway, GatewayLink: r.routesBy, DNS: r.dns, Hostname: r.hostname, LeaseAfter: r.firstAt}
	for _, l := range runs {
		k := Link{Name: l.plan.Name, MAC: l.mac, Carrier: l.carrier, Method: l.plan.Method, Addrs: l.addrs}
		if l.plan.Method == MethodDHCP {
			k.Addrs = append(slices.Clip(k.Addrs), l.v6.addrs...) // SLAAC's, beside the lease
		}
		if !l.ok() && l.plan.Method != MethodOff {
			k.Err = l.describe()
		}
		st.Links = append(st.Links, k)
	}
	return st
}
