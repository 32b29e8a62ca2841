package nextstage

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/homestaker/homestaker-boot/init/config"
	"github.com/homestaker/homestaker-boot/init/fetch"
	"github.com/homestaker/homestaker-boot/init/verify"
)

// channel is how a tree's bytes reach the init, and so what a SHA256SUMS
// from the same place proves. On the volume, in the initramfs, over https
// (checked against the CA bundle) and through the WireGuard tunnel (the
// hub's key) the channel vouches for where the bytes come from, and a
// checksum catches corruption. Over plain http outside the tunnel anyone
// on the path can change the tree and its SHA256SUMS alike: only a
// signature by a trusted key authenticates it.
type channel struct {
	name          string // for "checksum over the tunnel", "... on the volume"
	authenticated bool
	warning       string // an unauthenticated tree booting under homestaker.verify=off
}

// mode is the verification a tree from this channel gets: the configured
// one where the channel is authenticated, else a signature, or nothing
// under homestaker.verify=off (the lab's explicit choice, warned about at
// every boot).
func (c channel) mode(env Env, sums, sig []byte) (config.VerifyMode, error) {
	if c.authenticated || env.Mode == config.VerifyOff {
		return env.Mode, nil
	}
	ways := "sign the tree (`homestaker install-next --sign KEY`, with the public key built into the initramfs: go run ./initramfs -trusted-keys KEY.pub), serve it over https, or serve it inside the WireGuard tunnel"
	switch {
	case sig == nil:
		return 0, &verify.Refusal{File: verify.SigFile, Msg: "missing, and the source is plain http outside the WireGuard tunnel, where a SHA256SUMS from the same server authenticates nothing; " + ways}
	case len(env.Keys) == 0:
		return 0, &verify.Refusal{File: verify.SigFile, Msg: "cannot be checked: no trusted key in " + verify.TrustedDir + ", and the source is plain http outside the WireGuard tunnel; " + ways}
	}
	return config.VerifySignature, nil
}

var (
	onVolume    = channel{name: "on the volume", authenticated: true}
	inInitramfs = channel{name: "in the initramfs", authenticated: true}
)

// channelOf finds the channel of an http(s) source and the client to fetch
// it with. A source reached through the tunnel is pinned to the addresses
// that were checked and to the tunnel's device, so that neither a later
// DNS answer nor a route change takes it outside; every channel but plain
// http follows redirects only within its scheme and host.
func channelOf(ctx context.Context, base string, env Env) (channel, *http.Client, error) {
	u, err := url.Parse(base)
	if err != nil {
		return channel{}, nil, fmt.Errorf("bad URL %s: %v", config.RedactURL(base), err)
	}
	if u.Scheme == "https" {
		return channel{name: "over https", authenticated: true}, fetch.Pinned(env.HTTP, nil), nil
	}
	host := u.Hostname()
	addrs, err := lookup(ctx, host)
	if err != nil {
		return channel{}, nil, err
	}
	through := env.ThroughTunnel != nil && env.TunnelDevice != ""
	for _, a := range addrs {
		through = through && env.ThroughTunnel(a)
	}
	if !through {
		c := channel{name: "over plain http outside the tunnel"}
		if env.Mode == config.VerifyOff {
			c.warning = config.RedactURL(base) + " is plain http outside the WireGuard tunnel and homestaker.verify=off: anyone on the path can replace the next system"
		}
		return c, env.HTTP, nil
	}
	port := u.Port()
	if port == "" {
		port = "80"
	}
	dev := env.TunnelDevice
	dial := func(ctx context.Context, network, _ string) (net.Conn, error) {
		d := net.Dialer{Timeout: 10 * time.Second, Control: func(_, _ string, rc syscall.RawConn) error {
			var serr error
			if err := rc.Control(func(fd uintptr) { serr = unix.BindToDevice(int(fd), dev) }); err != nil {
				return err
			}
			return serr
		}}
		var last error
		for _, a := range addrs {
			c, err := d.DialContext(ctx, network, net.JoinHostPort(a.String(), port))
			if err == nil {
				return c, nil
			}
			last = err
		}
		return nil, last
	}
	return channel{name: "over the tunnel", authenticated: true}, fetch.Pinned(env.HTTP, dial), nil
}

// lookup resolves host, an IP literal or a name.
func lookup(ctx context.Context, host string) ([]netip.Addr, error) {
	if a, err := netip.ParseAddr(host); err == nil {
		return []netip.Addr{a.Unmap()}, nil
	}
	addrs, err := net.DefaultResolver.LookupNetIP(ctx, "ip", host)
	if err != nil {
		return nil, fmt.Errorf("resolving %s: %v", host, err)
	}
	if len(addrs) == 0 {
		return nil, fmt.Errorf("resolving %s: no address", host)
	}
	for i := range addrs {
		addrs[i] = addrs[i].Unmap()
	}
	return addrs, nil
}
