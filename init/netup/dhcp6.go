package netup

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv6"
	"github.com/insomniacslk/dhcp/dhcpv6/nclient6"
	"github.com/insomniacslk/dhcp/iana"

	"github.com/homestaker/homestaker-boot/init/english"
)

// lease6 is what a DHCPv6 reply gave: one address of its IA_NA, and DNS.
// DHCPv6 gives no routes: the default route comes from the router
// advertisements, as for SLAAC.
type lease6 struct {
	Addr      netip.Addr
	Preferred time.Duration
	Valid     time.Duration
	DNS       []netip.Addr
	Server    string // the server's DUID, for the report
}

// lease6FromReply reads the lease out of a Reply, or says why there is
// none.
func lease6FromReply(m *dhcpv6.Message) (lease6, error) {
	if m == nil || m.MessageType != dhcpv6.MessageTypeReply {
		return lease6{}, errors.New("no Reply")
	}
	if st := m.Options.Status(); st != nil && st.StatusCode != iana.StatusSuccess {
		return lease6{}, fmt.Errorf("the server says %s: %s", st.StatusCode, sanitize(st.StatusMessage))
	}
	ia := m.Options.OneIANA()
	if ia == nil {
		return lease6{}, errors.New("the reply has no address (no IA_NA)")
	}
	if st := ia.Options.Status(); st != nil && st.StatusCode != iana.StatusSuccess {
		return lease6{}, fmt.Errorf("the server gives no address: %s: %s", st.StatusCode, sanitize(st.StatusMessage))
	}
	for _, a := range ia.Options.Addresses() {
		ip, ok := netip.AddrFromSlice(a.IPv6Addr)
		if !ok || !ip.Is6() || ip.Is4In6() || !ip.IsGlobalUnicast() || a.ValidLifetime == 0 {
			continue
		}
		l := lease6{Addr: ip, Preferred: a.PreferredLifetime, Valid: a.ValidLifetime}
		for _, d := range m.Options.DNS() {
			if da, ok := netip.AddrFromSlice(d); ok && da.Is6() {
				l.DNS = append(l.DNS, da)
			}
		}
		if id := m.Options.ServerID(); id != nil {
			l.Server = fmt.Sprintf("%x", id.ToBytes())
		}
		return l, nil
	}
	return lease6{}, errors.New("the reply's IA_NA holds no usable global address")
}

// dhcp6 is ip=dhcp6 on a link with a carrier: a DHCPv6 address (Solicit
// with rapid commit, else Advertise and Request) and the router
// advertisements' default route, bounded by ctx.
func (r *run) dhcp6(ctx context.Context, l *linkRun) {
	name := l.plan.Name
	if err := waitLinkLocal(ctx, name); err != nil {
		l.v6.lastErr = err.Error()
		return
	}
	c, err := nclient6.New(name, nclient6.WithRetry(1), nclient6.WithTimeout(2*maxBackoff))
	if err != nil {
		l.v6.lastErr = "opening a DHCPv6 socket: " + err.Error()
		return
	}
	defer c.Close()
	for n := 0; ctx.Err() == nil; n++ {
		wait := backoff(n)
		begin := time.Now()
		actx, cancel := context.WithTimeout(ctx, wait)
		l.v6.solicits++
		m, err := c.RapidSolicit(actx, dhcpv6.WithRequestedOptions(dhcpv6.OptionDNSRecursiveNameServer))
		cancel()
		if err == nil {
			l.v6.replies++
			ls, err := lease6FromReply(m)
			if err == nil {
				r.applyLease6(ctx, l, ls)
				return
			}
			l.v6.lastErr = "an unusable reply: " + err.Error()
		} else if !noAnswer(err) && !errors.Is(err, nclient6.ErrNoResponse) {
			l.v6.lastErr = err.Error()
		}
		t := time.NewTimer(time.Until(begin.Add(wait)))
		select {
		case <-ctx.Done():
		case <-t.C:
		}
		t.Stop()
	}
}

// routerGrace bounds the wait for a router advertisement once DHCPv6 has
// given the address: routers answer a solicitation at once.
const routerGrace = 3 * time.Second

func (r *run) applyLease6(ctx context.Context, l *linkRun, ls lease6) {
	name := l.plan.Name
	p := netip.PrefixFrom(ls.Addr, 128) // the on-link prefix comes from the advertisements
	if err := addAddr(name, p, netip.Addr{}); err != nil {
		l.applyErr = err.Error()
		return
	}
	l.v6.lease = &ls
	l.v6.addrs = []netip.Prefix{p}
	l.addrs = append(l.addrs, p)
	rctx, cancel := context.WithTimeout(ctx, routerGrace)
	_, router, _ := waitSLAAC(rctx, name, false)
	cancel()
	l.v6.router = router
	if router.IsValid() {
		r.applyRouter6(l)
	} else {
		l.after = time.Since(r.start)
		r.mu.Lock()
		r.noteAddress(l.after)
		r.mu.Unlock()
		r.rec.Warn("%s: %s by DHCPv6, but no router advertisement gave a default route: only the local network is reachable", name, p)
	}
	r.mu.Lock()
	if len(r.dns) == 0 {
		r.dns = ls.DNS
	}
	r.mu.Unlock()
	r.succeeded()
}

func (l *linkRun) describeDHCP6() string {
	n, v := l.plan.Name, &l.v6
	switch {
	case l.applyErr != "":
		return n + ": carrier, " + l.applyErr
	case v.lease != nil:
		return fmt.Sprintf("%s: %s by DHCPv6", n, v.lease.Addr)
	case v.solicits == 0:
		s := n + ": carrier, no DHCPv6 solicit sent"
		if v.lastErr != "" {
			s += ": " + v.lastErr
		}
		return s
	default:
		s := fmt.Sprintf("%s: carrier, %d DHCPv6 %s, %d %s but no lease", n, v.solicits, english.Plural(v.solicits, "solicit", "solicits"), v.replies, english.Plural(v.replies, "reply", "replies"))
		if v.replies == 0 {
			s = fmt.Sprintf("%s: carrier, %d DHCPv6 %s without an answer", n, v.solicits, english.Plural(v.solicits, "solicit", "solicits"))
		}
		if v.lastErr != "" {
			s += " (last error: " + v.lastErr + ")"
		}
		return s
	}
}
