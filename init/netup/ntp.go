package netup

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
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

// checkClock asks the servers in turn until one answers, and steps the
// clock by its offset when step is set and the offset is large.
func checkClock(ctx context.Context, servers []string, dns []netip.Addr, network string, step bool) (*ntpResult, error) {
	var failures []string
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
		res.Tried, res.Failures = servers, failures
		if step && (res.Offset > stepThreshold || res.Offset < -stepThreshold) {
			if err := stepClock(res.Offset); err != nil {
				return res, fmt.Errorf("%s answered (offset %s), but setting the clock failed: %v", s, formatOffset(res.Offset), err)
			}
			res.Set = true
		}
		return res, nil
	}
	return nil, errors.New(strings.Join(failures, "; "))
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
