package netup

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"runtime/debug"
	"strings"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

const (
	// ntpTimeout bounds one server, name resolution included.
	ntpTimeout = 2 * time.Second
	// stepThreshold: a smaller offset is left alone; the next stage's
	// NTP daemon slews it.
	stepThreshold = time.Second
)

// agreeWithin is how close two servers' offsets must be to confirm a step.
const agreeWithin = 2 * time.Second

// checkClock asks the servers in turn until one answers. A large offset is
// stepped (when step is set) only if the clock is clearly wrong (earlier
// than the source this init was built from) or a second server agrees:
// SNTP is unauthenticated and the server may come from the LAN's DHCP, and
// one forged answer years ahead would break WireGuard's replay protection
// and TLS for the next system.
func checkClock(ctx context.Context, servers []string, dns []netip.Addr, network string, step bool) (*ntpResult, error) {
	var failures []string
	var first *ntpResult
	var others []*ntpResult
	for _, s := range servers {
		if ctx.Err() != nil {
			failures = append(failures, s+": not tried, the network stage's time ran out")
			continue
		}
		res, err := querySNTP(ctx, s, dns, network)
		if err != nil {
			failures = append(failures, s+": "+err.Error())
			continue
		}
		if first == nil {
			first = res
		} else {
			others = append(others, res)
		}
		if v := clockVerdict(first, others, time.Now(), clockFloor()); v.done {
			break
		}
	}
	if first == nil {
		return nil, errors.New(strings.Join(failures, "; "))
	}
	first.Tried, first.Failures = servers, failures
	v := clockVerdict(first, others, time.Now(), clockFloor())
	first.NotStepped = v.notStepped
	if v.step {
		for _, o := range others {
			first.ConfirmedBy = append(first.ConfirmedBy, o.Server)
		}
	}
	if step && v.step {
		if err := stepClock(first.Offset); err != nil {
			return first, fmt.Errorf("%s answered (offset %s), but setting the clock failed: %v", first.Server, formatOffset(first.Offset), err)
		}
		first.Set = true
	}
	return first, nil
}

// verdict is what the answers so far say about stepping the clock.
type verdict struct {
	step       bool   // step by the first answer's offset
	notStepped string // why a large offset is not applied
	done       bool   // no further answer can change the verdict
}

// clockVerdict decides from the first answer and the later ones whether
// the clock is stepped. now is the clock; floor the earliest time it can
// rightly show.
func clockVerdict(first *ntpResult, others []*ntpResult, now, floor time.Time) verdict {
	big := func(d time.Duration) bool { return d > stepThreshold || d < -stepThreshold }
	if !big(first.Offset) {
		return verdict{done: true}
	}
	if now.Before(floor) {
		if now.Add(first.Offset).Before(floor) {
			return verdict{notStepped: fmt.Sprintf("%s says %s, earlier than this init's build (%s)", first.Server, now.Add(first.Offset).UTC().Format(time.RFC3339), floor.UTC().Format(time.DateOnly))}
		}
		// A clock before the build is wrong for sure (a dead RTC battery):
		// any answer after it is better.
		return verdict{step: true, done: true}
	}
	for _, o := range others {
		if d := o.Offset - first.Offset; d <= agreeWithin && d >= -agreeWithin {
			return verdict{step: true, done: true}
		}
	}
	why := fmt.Sprintf("only %s says the clock is off by %s, and SNTP is unauthenticated; list two servers in homestaker.ntp= so that a second one can confirm a step", first.Server, formatOffset(first.Offset))
	if len(others) > 0 {
		why = fmt.Sprintf("%s says the clock is off by %s, but %s (%s) does not agree", first.Server, formatOffset(first.Offset), others[0].Server, formatOffset(others[0].Offset))
	}
	return verdict{notStepped: why}
}

// releaseFloor is the earliest date this code can run at; clockFloor
// prefers the commit time of the source the init was built from.
var releaseFloor = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// clockFloor is the earliest time the clock can rightly show: the time of
// the commit this init was built from (Go stamps it into the binary when
// built from a git checkout; it keeps the build reproducible), else the
// release floor.
func clockFloor() time.Time {
	floor := releaseFloor
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, s := range bi.Settings {
			if s.Key == "vcs.time" {
				if t, err := time.Parse(time.RFC3339, s.Value); err == nil && t.After(floor) {
					floor = t
				}
			}
		}
	}
	return floor
}

// querySNTP asks one server, "host" or "host:port", for the time.
func querySNTP(ctx context.Context, server string, dns []netip.Addr, network string) (*ntpResult, error) {
	ctx, cancel := context.WithTimeout(ctx, ntpTimeout)
	defer cancel()
	host, port := server, "123"
	if h, p, err := net.SplitHostPort(server); err == nil {
		host, port = h, p
	}
	addr, err := resolveHost(ctx, host, dns, network)
	if err != nil {
		return nil, err
	}
	var d net.Dialer
	conn, err := d.DialContext(ctx, "udp", net.JoinHostPort(addr.String(), port))
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	if dl, ok := ctx.Deadline(); ok {
		conn.SetDeadline(dl)
	}
	stop := context.AfterFunc(ctx, func() { conn.SetDeadline(time.Now()) })
	defer stop()

	t1 := time.Now()
	sent := toNTPTime(t1)
	if _, err := conn.Write(sntpRequest(sent)); err != nil {
		return nil, fmt.Errorf("sending to %s: %v", addr, err)
	}
	buf := make([]byte, 512)
	for {
		n, err := conn.Read(buf)
		if err != nil {
			if ne, ok := err.(net.Error); ok && ne.Timeout() || ctx.Err() != nil {
				return nil, fmt.Errorf("no answer from %s within %s", addr, ntpTimeout)
			}
			return nil, fmt.Errorf("reading from %s: %v", addr, err)
		}
		t4 := time.Now()
		resp, err := parseSNTPResponse(buf[:n], sent)
		if errors.Is(err, errOtherRequest) {
			continue // a stray or forged packet; wait for ours
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %v", addr, err)
		}
		// T4 from T1 and the monotonic clock, so that a clock step by
		// another stage in between does not skew the offset.
		off, delay := clockOffset(t1, resp.Receive.Time(), resp.Transmit.Time(), t1.Add(t4.Sub(t1)))
		return &ntpResult{Server: server, Address: addr.String(), Offset: off, Delay: delay}, nil
	}
}

// resolveHost resolves host through the stage's DNS servers directly:
// the Go resolver may have read resolv.conf before the stage wrote it.
func resolveHost(ctx context.Context, host string, dns []netip.Addr, network string) (netip.Addr, error) {
	if a, err := netip.ParseAddr(host); err == nil {
		return a, nil
	}
	if len(dns) == 0 {
		return netip.Addr{}, fmt.Errorf("no DNS server to resolve %s", host)
	}
	var next atomic.Uint32
	r := &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, netw, _ string) (net.Conn, error) {
		var d net.Dialer
		s := dns[int(next.Add(1)-1)%len(dns)]
		return d.DialContext(ctx, netw, net.JoinHostPort(s.String(), "53"))
	}}
	addrs, err := r.LookupNetIP(ctx, network, host)
	if err != nil {
		return netip.Addr{}, fmt.Errorf("resolving %s: %v", host, err)
	}
	if len(addrs) == 0 {
		return netip.Addr{}, fmt.Errorf("resolving %s: no address", host)
	}
	return addrs[0].Unmap(), nil
}

// stepClock moves the system clock by offset.
func stepClock(offset time.Duration) error {
	tv := unix.NsecToTimeval(time.Now().Add(offset).UnixNano())
	return unix.Settimeofday(&tv)
}
