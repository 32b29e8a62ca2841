package netup

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"sync"
	"syscall"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/insomniacslk/dhcp/dhcpv4/nclient4"
	"golang.org/x/sys/unix"

	"github.com/homestaker/homestaker-boot/init/panics"
)

// A boot stopped at its banner waits for its operator, for days maybe;
// the leases the network stage got must outlive it. The keeper renews each
// DHCP lease at T1 (unicast to its server), rebinds at T2 (broadcast), and
// when the lease is lost (expired, or refused by a NAK) removes the address
// and asks for a new lease, putting the routes and DNS back to match. It
// stops at the handover: the next system runs its own DHCP client.

// leaseKeeper runs one goroutine per leased link.
type leaseKeeper struct {
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// kept is one link's lease as the keeper holds it. Only the link's
// goroutine touches it.
type kept struct {
	name   string
	mac    net.HardwareAddr
	mods   []dhcpv4.Modifier
	lease  lease
	server *nclient4.Lease // as the server sent it, for Renew
	times  leaseTimes
	// routes: this link's lease set the default route; dns: its DNS
	// servers are resolv.conf's.
	routes, dns bool
}

// keepLeases starts renewing the leases of the DHCP links in runs. Every
// link goroutine of the stage has ended.
func (r *run) keepLeases(runs []*linkRun) *leaseKeeper {
	ctx, cancel := context.WithCancel(context.Background())
	k := &leaseKeeper{cancel: cancel}
	r.mu.Lock()
	routesBy, dnsBy := r.routesBy, r.dnsBy
	r.mu.Unlock()
	for _, l := range runs {
		if l.kept == nil || l.lease == nil || !l.ok() {
			continue
		}
		mac, _ := net.ParseMAC(l.mac)
		kl := &kept{
			name:   l.plan.Name,
			mac:    mac,
			mods:   dhcpMods(l.plan.IP.Hostname),
			lease:  *l.lease,
			server: l.kept,
			times:  timesOf(l.kept.ACK, l.kept.CreationTime),
			routes: routesBy == l.plan.Name,
			dns:    dnsBy == l.plan.Name,
		}
		if kl.times.Expiry.IsZero() {
			continue // an infinite lease
		}
		k.wg.Go(func() {
			// A bug ends this link's renewals, and says so; the address
			// stays until the lease ends.
			_ = panics.Run("renewing the lease of "+kl.name, r.rec.Printf, func() { r.keep(ctx, kl) })
		})
	}
	return k
}

// stop ends the renewals and waits for them; the addresses stay.
func (k *leaseKeeper) stop() {
	if k == nil {
		return
	}
	k.cancel()
	k.wg.Wait()
}

// keep is one link's renewal loop, until ctx ends.
func (r *run) keep(ctx context.Context, k *kept) {
	for {
		phase, next := nextStep(k.times, time.Now())
		switch phase {
		case phaseForever:
			return
		case phaseBound:
			if !sleepUntil(ctx, next) {
				return
			}
			continue
		case phaseExpired:
			r.lost(k, fmt.Sprintf("the lease of %s from %s ended at %s without a renewal", k.lease.Addr.Addr(), k.lease.Server, clock(k.times.Expiry)))
			if !r.rediscover(ctx, k) {
				return
			}
			continue
		}
		actx, cancel := context.WithDeadline(ctx, next)
		got, err := renewOnce(actx, k, phase)
		cancel()
		var nak *nclient4.ErrNak
		switch {
		case ctx.Err() != nil:
			return
		case errors.As(err, &nak):
			why := fmt.Sprintf("%s refused to renew the lease of %s (NAK)", k.lease.Server, k.lease.Addr.Addr())
			if m := nak.Nak.Message(); m != "" {
				why += ": " + sanitize(m)
			}
			r.lost(k, why)
			if !r.rediscover(ctx, k) {
				return
			}
		case err != nil:
			// No answer: the next request goes out at next, quietly;
			// the expiry, if it comes, is announced.
			sleepUntil(ctx, next)
		default:
			how := "renewed with " + k.lease.Server.String()
			if phase == phaseRebinding {
				how = "rebound (broadcast) with " + serverOf(got.ACK, k.lease.Server).String()
			}
			r.took(k, got, how)
		}
	}
}

// renewOnce sends one renewal: a unicast request to the lease's server
// while renewing, a broadcast one while rebinding.
func renewOnce(ctx context.Context, k *kept, phase leasePhase) (*nclient4.Lease, error) {
	d, _ := ctx.Deadline()
	opts := []nclient4.ClientOpt{nclient4.WithRetry(1), nclient4.WithTimeout(max(time.Until(d), time.Second))}
	var c *nclient4.Client
	var err error
	if phase == phaseRenewing && k.lease.Server.IsValid() {
		conn, cerr := unicastConn(k.name, k.lease.Addr.Addr())
		if cerr != nil {
			return nil, cerr
		}
		c, err = nclient4.NewWithConn(conn, k.mac, append(opts, nclient4.WithServerAddr(&net.UDPAddr{IP: k.lease.Server.AsSlice(), Port: nclient4.ServerPort}))...)
		if err != nil {
			conn.Close()
		}
	} else {
		c, err = nclient4.New(k.name, opts...)
	}
	if err != nil {
		return nil, err
	}
	defer c.Close()
	if phase == phaseRebinding {
		return rebind(ctx, c, nclient4.DefaultServers, k.server, k.mods...)
	}
	// The library builds the request from the server's acknowledgement and
	// takes only that server's answer, as renewing (RFC 2131 4.4.5) asks.
	return c.Renew(ctx, k.server, k.mods...)
}

// rebind asks any server to extend the lease (RFC 2131 4.4.5: at T2 the
// client gives up on its own server), by broadcast and without a server
// identifier, to (the broadcast address; a test gives its own); the first acknowledgement or refusal counts, whoever sent
// it. nclient4's Renew takes only the first server's answer, so a network
// whose DHCP server was replaced would lose the address at the expiry.
// The lease returned names the answering server in both Offer and ACK, so
// that the next renewal goes to it.
func rebind(ctx context.Context, c *nclient4.Client, to *net.UDPAddr, held *nclient4.Lease, mods ...dhcpv4.Modifier) (*nclient4.Lease, error) {
	req, err := dhcpv4.NewRenewFromAck(held.ACK, dhcpv4.PrependModifiers(mods,
		dhcpv4.WithOption(dhcpv4.OptMaxMessageSize(nclient4.MaxMessageSize)))...)
	if err != nil {
		return nil, fmt.Errorf("building the rebinding request: %v", err)
	}
	ack, err := c.SendAndRead(ctx, to, req, nclient4.IsMessageType(dhcpv4.MessageTypeAck, dhcpv4.MessageTypeNak))
	if err != nil {
		return nil, err
	}
	if ack.MessageType() == dhcpv4.MessageTypeNak {
		return nil, &nclient4.ErrNak{Offer: held.Offer, Nak: ack}
	}
	offer := held.Offer
	if !ack.ServerIdentifier().Equal(held.ACK.ServerIdentifier()) {
		offer = ack
	}
	return &nclient4.Lease{Offer: offer, ACK: ack, CreationTime: time.Now()}, nil
}

// serverOf is the server identifier of an acknowledgement, or def.
func serverOf(ack *dhcpv4.DHCPv4, def netip.Addr) netip.Addr {
	if a, ok := netip.AddrFromSlice(ack.ServerIdentifier().To4()); ok {
		return a
	}
	return def
}

// unicastConn is a UDP socket on the leased address's client port, bound
// to the link, for a renewal the server answers by unicast.
func unicastConn(name string, addr netip.Addr) (net.PacketConn, error) {
	lc := net.ListenConfig{Control: func(_, _ string, rc syscall.RawConn) error {
		var serr error
		err := rc.Control(func(fd uintptr) {
			if serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_REUSEADDR, 1); serr == nil {
				serr = unix.BindToDevice(int(fd), name)
			}
		})
		if err != nil {
			return err
		}
		return serr
	}}
	pc, err := lc.ListenPacket(context.Background(), "udp4", netip.AddrPortFrom(addr, nclient4.ClientPort).String())
	if err != nil {
		return nil, fmt.Errorf("a socket on %s port %d: %v", addr, nclient4.ClientPort, err)
	}
	return pc, nil
}

// took applies an acknowledgement to the link (renewed, rebound or new)
// and says so in one line.
func (r *run) took(k *kept, got *nclient4.Lease, how string) {
	ls, err := leaseFromACK(got.ACK)
	if err != nil {
		// Not applied; the old lease's times stand and the next request
		// goes out as they say.
		r.rec.Printf("%s: the lease's renewal is unusable (%v); trying again", k.name, err)
		k.times.T1 = time.Now().Add(minRetry)
		return
	}
	old := k.lease
	k.lease, k.server, k.times = ls, got, timesOf(got.ACK, got.CreationTime)
	if err := r.follow(k, old, ls); err != nil {
		r.rec.Printf("%s: %v", k.name, err)
	}
	changed := ""
	if old.Addr != ls.Addr {
		changed = fmt.Sprintf(" (was %s)", old.Addr)
	}
	if how == "" {
		how = "leased anew from " + ls.Server.String()
	}
	r.rec.Printf("%s: %s%s %s until %s, next renewal at %s", k.name, ls.Addr, changed, how, clock(k.times.Expiry), clock(k.times.T1))
	r.noteLease(k)
}

// lost removes the address of a lease that ended; the kernel drops the
// routes through it.
func (r *run) lost(k *kept, why string) {
	msg := why + "; the address is removed and a new lease asked for"
	if err := delAddr(k.name, k.lease.Addr); err != nil {
		msg += " (" + err.Error() + ")"
	}
	r.rec.Printf("%s: %s", k.name, msg)
}

// rediscover asks for a new lease, as the stage does, until one comes or
// ctx ends; false when ctx ended.
func (r *run) rediscover(ctx context.Context, k *kept) bool {
	var c *nclient4.Client
	defer func() {
		if c != nil {
			c.Close()
		}
	}()
	probe := &linkRun{plan: linkPlan{Name: k.name}}
	gone := k.lease
	gone.Addr = netip.Prefix{} // not on the link any more
	for n := 0; ctx.Err() == nil; n++ {
		wait := rediscoverWait(n)
		begin := time.Now()
		got, err := attempt(ctx, wait, &c, probe, k.mods)
		if err == nil {
			k.lease = gone
			r.took(k, got, "")
			return true
		}
		if !sleepUntil(ctx, begin.Add(wait)) {
			return false
		}
	}
	return false
}

// rediscoverWait is the stage's backoff, then every 30 seconds: a node
// off its network for a day asks twice a minute, not every 4 seconds.
func rediscoverWait(n int) time.Duration {
	if n < 8 {
		return backoff(n)
	}
	return 30 * time.Second
}

// follow puts the link, the routes and resolv.conf in line with the new
// lease: a new address replaces the old one, the default route follows a
// new router, and new DNS servers replace the old ones in resolv.conf.
func (r *run) follow(k *kept, old, ls lease) error {
	var errs []string
	if old.Addr != ls.Addr {
		if err := addAddr(k.name, ls.Addr, ls.Broadcast); err != nil {
			return err // the old address, if any, stays
		}
		if old.Addr.IsValid() {
			if err := delAddr(k.name, old.Addr); err != nil {
				errs = append(errs, err.Error())
			}
		}
	}
	if k.routes && (old.Addr != ls.Addr || !slices.Equal(old.routes(), ls.routes())) {
		if err := addRoutes(k.name, ls.routes()); err != nil {
			errs = append(errs, err.Error())
		}
		for _, rt := range old.routes() {
			if old.Addr == ls.Addr && !slices.Contains(ls.routes(), rt) {
				if err := delRoute(k.name, rt); err != nil {
					errs = append(errs, err.Error())
				}
			}
		}
	}
	if k.dns && len(ls.DNS) > 0 && !slices.Equal(old.DNS, ls.DNS) {
		if err := swapResolvConf(r.o.ResolvConf, old.DNS, ls.DNS); err != nil {
			errs = append(errs, err.Error())
		}
	}
	if len(errs) > 0 {
		return errors.New(joinErrs(errs))
	}
	return nil
}

// noteLease gives the report the lease as it is now.
func (r *run) noteLease(k *kept) {
	if r.o.LeaseChanged == nil || !k.routes && !k.dns {
		return
	}
	f := newLeaseFact(k.name, &k.lease, 0)
	f.After = ""
	f.setTimes(k.times)
	r.o.LeaseChanged("lease", f)
}

// sleepUntil waits until t or ctx's end; false when ctx ended.
func sleepUntil(ctx context.Context, t time.Time) bool {
	tm := time.NewTimer(time.Until(t))
	defer tm.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-tm.C:
		return true
	}
}

// clock is a lease time for a status line, in UTC on the wall clock
// (the monotonic reading keeps it right across the NTP step).
func clock(t time.Time) string {
	return time.Now().Add(time.Until(t)).UTC().Format("15:04:05Z")
}

// wallTime is t on the wall clock as it is now, for the report.
func wallTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return time.Now().Add(time.Until(t)).UTC().Round(time.Second).Format(time.RFC3339)
}

func joinErrs(errs []string) string {
	out := errs[0]
	for _, e := range errs[1:] {
		out += "; " + e
	}
	return out
}
