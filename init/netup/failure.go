package netup

import (
	"fmt"
	"net/netip"
	"strings"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4/nclient4"

	"github.com/homestaker/homestaker-boot/init/english"
	"github.com/homestaker/homestaker-boot/init/report"
)

// linkRun is one link's progress. Only the link's goroutine writes it,
// and the stage reads it only after that goroutine has ended.
type linkRun struct {
	plan     linkPlan
	mac      string
	setupErr string // bringing the link up failed
	carrier  bool
	requests int    // DHCP discovers sent
	offers   int    // offers received
	lastErr  string // the last DHCP error that was not a plain lack of answer
	applyErr string // configuring the address or routes failed
	addrs    []netip.Prefix
	after    time.Duration // from the stage's start to the address
	lease    *lease
	// kept is the lease as the server sent it. It is never renewed: the
	// tunnel and the handover happen well within any lease time, and the
	// next stage runs its own DHCP client.
	kept *nclient4.Lease
	v6   ipv6Run // IPv6: autoconfiguration, DHCPv6
	// internalErr is a bug: the link's goroutine panicked, whatever it
	// had done by then.
	internalErr string
}

// ok: the link has an address and a carrier, and no bug stopped it.
func (l *linkRun) ok() bool { return len(l.addrs) > 0 && l.carrier && l.internalErr == "" }

// describe says what happened on the link, for the operator.
func (l *linkRun) describe() string {
	n := l.plan.Name
	static := l.plan.Method == MethodStatic
	switch {
	case l.internalErr != "":
		return n + ": " + l.internalErr
	case l.setupErr != "":
		return n + ": " + l.setupErr
	case static && l.applyErr != "":
		return n + ": " + l.applyErr
	case static && !l.carrier:
		return fmt.Sprintf("%s: %s set, no carrier (cable unplugged?)", n, l.plan.IP.Client)
	case !l.carrier:
		return n + ": no carrier (cable unplugged?)"
	case static:
		return fmt.Sprintf("%s: %s, carrier", n, l.plan.IP.Client)
	case l.plan.Method == MethodAuto6 || l.plan.Method == MethodDHCP6:
		return l.describe6()
	case l.applyErr != "":
		return n + ": carrier, " + l.applyErr
	case l.lease != nil:
		return fmt.Sprintf("%s: %s by DHCP", n, l.lease.Addr)
	case l.requests == 0:
		s := n + ": carrier, no DHCP request sent"
		if l.lastErr != "" {
			s += ": " + l.lastErr
		}
		return s
	case l.offers == 0:
		s := fmt.Sprintf("%s: carrier, %d DHCP %s without an answer", n, l.requests, english.Plural(l.requests, "request", "requests"))
		if l.lastErr != "" {
			s += " (last error: " + l.lastErr + ")"
		}
		return s
	default:
		s := fmt.Sprintf("%s: carrier, %d DHCP %s, %d %s but no lease", n, l.requests, english.Plural(l.requests, "request", "requests"), l.offers, english.Plural(l.offers, "offer", "offers"))
		if l.lastErr != "" {
			s += " (last: " + l.lastErr + ")"
		}
		return s
	}
}

// failure is the stage's error when no link got an address: what was
// expected on which links, what each of them did, what to do.
func failure(runs []*linkRun) *report.Failure {
	var dhcp, auto6, dhcp6, static, found []string
	for _, l := range runs {
		switch l.plan.Method {
		case MethodDHCP:
			dhcp = append(dhcp, l.plan.Name)
		case MethodAuto6:
			auto6 = append(auto6, l.plan.Name)
		case MethodDHCP6:
			dhcp6 = append(dhcp6, l.plan.Name)
		case MethodStatic:
			static = append(static, fmt.Sprintf("the static address %s on %s with carrier", l.plan.IP.Client, l.plan.Name))
		default:
			continue
		}
		found = append(found, l.describe())
	}
	var expected []string
	if len(dhcp) > 0 {
		expected = append(expected, "an IPv4 address by DHCP on one of: "+strings.Join(dhcp, ", "))
	}
	if len(auto6) > 0 {
		expected = append(expected, "an IPv6 address and a default route by SLAAC (router advertisements) on one of: "+strings.Join(auto6, ", "))
	}
	if len(dhcp6) > 0 {
		expected = append(expected, "an IPv6 address by DHCPv6 on one of: "+strings.Join(dhcp6, ", "))
	}
	expected = append(expected, static...)
	action := "check the cable and the address in ip=; a slow network may need a longer homestaker.timeout.net="
	if len(dhcp) > 0 {
		action = "check the cable and the DHCP server, or set a static address with ip=<client>::<gw>:<mask>::<dev>:none; a slow network may need a longer homestaker.timeout.net="
	}
	if len(auto6)+len(dhcp6) > 0 {
		action = "check the cable and that the router announces IPv6 (router advertisements; a DHCPv6 server for ip=dhcp6), or use ip=dhcp for IPv4; a slow network may need a longer homestaker.timeout.net="
	}
	return report.Fail(strings.Join(expected, ", or "), strings.Join(found, "; "), action)
}
