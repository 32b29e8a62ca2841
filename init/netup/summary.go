package netup

import (
	"fmt"
	"math"
	"net/netip"
	"strings"
	"time"

	"github.com/homestaker/homestaker-boot/init/config"
)

// defaultNTP is the public pool used when neither homestaker.ntp= nor the
// network names a server: two of its names, so that a second server can
// confirm a large step (see checkClock).
var defaultNTP = []string{"0.pool.ntp.org", "1.pool.ntp.org"}

// maxNTPServers bounds the time an unreachable NTP costs the boot: at
// most this many servers, ntpTimeout each.
const maxNTPServers = 2

// ntpServers chooses the time servers: homestaker.ntp=, else the ntp0
// fields of ip= and the first lease's option 42, else the public pool.
func ntpServers(cmdline []string, ips []config.IPConfig, leaseNTP []netip.Addr) []string {
	var out []string
	add := func(s string) {
		for _, o := range out {
			if o == s {
				return
			}
		}
		out = append(out, s)
	}
	if len(cmdline) > 0 {
		for _, s := range cmdline {
			add(s)
		}
	} else {
		for _, ip := range ips {
			if ip.NTP.IsValid() {
				add(ip.NTP.String())
			}
		}
		for _, a := range leaseNTP {
			add(a.String())
		}
	}
	if len(out) == 0 {
		out = defaultNTP
	}
	return out[:min(len(out), maxNTPServers)]
}

// ntpResult is what the time servers said; facts for the report.
type ntpResult struct {
	Server  string        `json:"server"`
	Address string        `json:"address"`
	Offset  time.Duration `json:"offset_ns"`
	Delay   time.Duration `json:"delay_ns"`
	Set     bool          `json:"set"` // the clock was stepped
	// NotStepped says why a large offset was not applied.
	NotStepped  string   `json:"not_stepped,omitempty"`
	ConfirmedBy []string `json:"confirmed_by,omitempty"` // servers that agreed with a step
	Tried       []string `json:"tried,omitempty"`
	Failures    []string `json:"failures,omitempty"`
}

// leaseFact is the first lease, for the report.
type leaseFact struct {
	Link      string       `json:"link"`
	Address   netip.Prefix `json:"address"`
	Router    string       `json:"router,omitempty"`
	DNS       []netip.Addr `json:"dns,omitempty"`
	Server    string       `json:"server,omitempty"`
	LeaseTime string       `json:"lease_time,omitempty"`
	Routes    []string     `json:"routes,omitempty"`
	MTU       int          `json:"mtu,omitempty"`
	NTP       []netip.Addr `json:"ntp,omitempty"`
	After     string       `json:"after,omitempty"` // from the stage start
	// When the lease was obtained, is to be renewed (T1) and rebound
	// (T2), and ends, in UTC; none for a lease without end.
	Obtained string `json:"obtained,omitempty"`
	T1       string `json:"t1,omitempty"`
	T2       string `json:"t2,omitempty"`
	Expires  string `json:"expires,omitempty"`
}

func (f *leaseFact) setTimes(lt leaseTimes) {
	f.Obtained, f.T1, f.T2, f.Expires = wallTime(lt.Obtained), wallTime(lt.T1), wallTime(lt.T2), wallTime(lt.Expiry)
}

func newLeaseFact(link string, l *lease, after time.Duration) leaseFact {
	f := leaseFact{Link: link, Address: l.Addr, DNS: l.DNS, MTU: l.MTU, NTP: l.NTP, After: after.Round(time.Millisecond).String()}
	if l.Router.IsValid() {
		f.Router = l.Router.String()
	}
	if l.Server.IsValid() {
		f.Server = l.Server.String()
	}
	if l.Time > 0 {
		f.LeaseTime = l.Time.String()
	}
	for _, r := range l.routes() {
		f.Routes = append(f.Routes, r.String())
	}
	return f
}

// summarize is the stage's status line, e.g. "eth0 10.0.2.15/24 by DHCP
// in 60ms, gateway 10.0.2.2, clock set by pool.ntp.org (offset +0.3s)".
func summarize(runs []*linkRun, gateway netip.Addr, ntp *ntpResult) string {
	var parts []string
	for _, l := range runs {
		if !l.ok() {
			continue
		}
		how := "by DHCP"
		switch l.plan.Method {
		case MethodStatic:
			how = "static"
		case MethodAuto6:
			how = "by SLAAC"
		case MethodDHCP6:
			how = "by DHCPv6"
		}
		parts = append(parts, fmt.Sprintf("%s %s %s in %s", l.plan.Name, prefixes(l.addrs), how, roundDuration(l.after)))
		if l.plan.Method == MethodDHCP && len(l.v6.addrs) > 0 {
			parts = append(parts, fmt.Sprintf("%s %s by SLAAC", l.plan.Name, prefixes(l.v6.addrs)))
		}
	}
	if gateway.IsValid() {
		parts = append(parts, "gateway "+gateway.String())
	} else {
		parts = append(parts, "no gateway")
	}
	switch {
	case ntp == nil:
		parts = append(parts, "no NTP answer, clock not checked")
	case ntp.Set:
		parts = append(parts, fmt.Sprintf("clock set by %s (offset %s)", ntp.Server, formatOffset(ntp.Offset)))
	case ntp.NotStepped != "":
		parts = append(parts, fmt.Sprintf("clock NOT set (%s says offset %s, unconfirmed)", ntp.Server, formatOffset(ntp.Offset)))
	default:
		parts = append(parts, fmt.Sprintf("clock checked with %s (offset %s)", ntp.Server, formatOffset(ntp.Offset)))
	}
	return strings.Join(parts, ", ")
}

func prefixes(ps []netip.Prefix) string {
	var s []string
	for _, p := range ps {
		s = append(s, p.String())
	}
	return strings.Join(s, " ")
}

// formatOffset writes a clock offset with its sign: "+0.3s", "-2.0s",
// "+26h3m0s".
func formatOffset(d time.Duration) string {
	if d > -time.Minute && d < time.Minute {
		s := math.Round(d.Seconds()*10) / 10
		if s == 0 {
			s = 0 // not -0
		}
		return fmt.Sprintf("%+.1fs", s)
	}
	if d < 0 {
		return "-" + (-d).Round(time.Second).String()
	}
	return "+" + d.Round(time.Second).String()
}

func roundDuration(d time.Duration) time.Duration {
	if d < time.Second {
		return d.Round(time.Millisecond)
	}
	return d.Round(10 * time.Millisecond)
}
