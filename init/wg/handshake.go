package wg

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/homestaker/homestaker-boot/init/report"
	"github.com/homestaker/homestaker-boot/init/wgconf"
)

// pollInterval is how often WaitHandshake reads the device's state. A
// UAPI get is cheap; a short interval makes the measured handshake time
// honest.
const pollInterval = 50 * time.Millisecond

// kickInterval is how often WaitHandshake asks for handshakes again while
// none has completed (see startHandshakes).
const kickInterval = time.Second

// PeerStatus is what the report says about one peer. It holds public
// facts only.
type PeerStatus struct {
	PublicKey  string `json:"public_key"`                    // base64
	Endpoint   string `json:"endpoint,omitempty"`            // resolved ip:port, as the device uses it
	Configured string `json:"configured_endpoint,omitempty"` // Endpoint in the file, when one was given
	// ResolveError says why a configured endpoint has no address.
	ResolveError string        `json:"resolve_error,omitempty"`
	Handshake    time.Time     `json:"handshake,omitzero"`        // last handshake; zero when none
	HandshakeAge time.Duration `json:"handshake_age_ns,omitzero"` // at the time of reading
	RxBytes      uint64        `json:"rx_bytes"`
	TxBytes      uint64        `json:"tx_bytes"`
	AllowedIPs   []string      `json:"allowed_ips"`
}

// Status reads the current per-peer status, in wg0.conf's order.
func (t *Tunnel) Status() ([]PeerStatus, error) {
	st, err := readDevice(t.dev, t.conf.Name)
	if err != nil {
		return nil, err
	}
	t.epMu.Lock()
	defer t.epMu.Unlock()
	return peerStatus(t.conf, t.endpoints, st, time.Now()), nil
}

// peerStatus joins the configured peers, their endpoints and the device's
// state into the report's view, in the file's order.
func peerStatus(conf *wgconf.Config, endpoints map[wgconf.Key]endpoint, st deviceState, now time.Time) []PeerStatus {
	byKey := make(map[wgconf.Key]peerState, len(st.Peers))
	for _, p := range st.Peers {
		byKey[p.PublicKey] = p
	}
	out := make([]PeerStatus, 0, len(conf.Peers))
	for _, p := range conf.Peers {
		ps := PeerStatus{PublicKey: p.PublicKey.String(), AllowedIPs: []string{}}
		ep := endpoints[p.PublicKey]
		ps.Configured = ep.Configured
		if ep.Err != nil {
			ps.ResolveError = ep.Err.Error()
		}
		if ep.Addr.IsValid() {
			ps.Endpoint = ep.Addr.String()
		}
		if s, ok := byKey[p.PublicKey]; ok {
			if s.Endpoint != "" {
				ps.Endpoint = s.Endpoint // it roams: the device knows best
			}
			ps.Handshake, ps.RxBytes, ps.TxBytes = s.LastHandshake, s.RxBytes, s.TxBytes
			if !s.LastHandshake.IsZero() {
				ps.HandshakeAge = max(0, now.Sub(s.LastHandshake))
			}
			for _, a := range s.AllowedIPs {
				ps.AllowedIPs = append(ps.AllowedIPs, a.String())
			}
		}
		out = append(out, ps)
	}
	return out
}

// WaitHandshake waits until ctx ends for a handshake with at least one
// peer that has an endpoint, reading last_handshake_time_sec through the
// UAPI, and returns the per-peer status. It records the status and the
// stage summary. Without a handshake it returns a *report.Failure naming
// each peer and endpoint it tried; the caller decides what that means
// (homestaker.wg=required or optional). When no peer has an endpoint
// there is nobody to call: it returns at once, without error.
func (t *Tunnel) WaitHandshake(ctx context.Context) ([]PeerStatus, error) {
	var waitFor, resolved []wgconf.Key
	for _, p := range t.conf.Peers {
		if p.Endpoint == nil {
			continue
		}
		waitFor = append(waitFor, p.PublicKey)
		t.epMu.Lock()
		ok := t.endpoints[p.PublicKey].Addr.IsValid()
		t.epMu.Unlock()
		if ok {
			resolved = append(resolved, p.PublicKey)
		}
	}
	if len(waitFor) == 0 {
		st, err := t.Status()
		if err != nil {
			return nil, err
		}
		t.rec.Fact("peers", st)
		t.rec.Printf("no peer in %s.conf has an Endpoint: not waiting for a handshake, the peers have to contact this node", t.conf.Name)
		t.rec.Summary("%s %s up, no peer with an endpoint to wait for", t.conf.Name, joinPrefixes(t.conf.Interface.Addresses))
		return st, nil
	}

	tick := time.NewTicker(pollInterval)
	defer tick.Stop()
	var lastKick time.Time
	for {
		if time.Since(lastKick) >= kickInterval {
			startHandshakes(t.dev, resolved)
			lastKick = time.Now()
		}
		st, err := t.Status()
		if err != nil {
			return nil, err
		}
		if i := firstHandshake(st, waitFor); i >= 0 {
			t.rec.Fact("peers", st)
			p := st[i]
			after := p.Handshake.Sub(t.upAt)
			if after < 0 {
				after = 0
			}
			t.rec.Summary("%s %s up, handshake with %s at %s after %s", t.conf.Name, joinPrefixes(t.conf.Interface.Addresses), shortKey(p.PublicKey), p.Endpoint, seconds(after))
			for _, o := range st {
				if o.Configured != "" && o.Handshake.IsZero() {
					t.rec.Printf("no handshake (yet) with peer %s at %s", o.PublicKey, orConfigured(o))
				}
			}
			return st, nil
		}
		select {
		case <-ctx.Done():
			if final, err := t.Status(); err == nil {
				st = final
			}
			t.rec.Fact("peers", st)
			return st, noHandshake(t.conf, st, t.began, ctx)
		case <-tick.C:
		}
	}
}

// firstHandshake returns the index in st of a peer in waitFor that has
// completed a handshake, or -1.
func firstHandshake(st []PeerStatus, waitFor []wgconf.Key) int {
	for i, p := range st {
		if p.Handshake.IsZero() {
			continue
		}
		for _, k := range waitFor {
			if k.String() == p.PublicKey {
				return i
			}
		}
	}
	return -1
}

// noHandshake is the failure when no peer answered before ctx ended.
func noHandshake(conf *wgconf.Config, st []PeerStatus, began time.Time, ctx context.Context) *report.Failure {
	within := "before the stage's deadline"
	if d, ok := ctx.Deadline(); ok {
		within = "within " + d.Sub(began).Round(time.Second).String()
	}
	expected := fmt.Sprintf("a WireGuard handshake with a peer of %s %s (homestaker.timeout.wg=)", conf.Name, within)
	var found []string
	var ports []string
	for _, p := range st {
		if p.Configured == "" {
			continue
		}
		if p.ResolveError != "" {
			found = append(found, fmt.Sprintf("no handshake with %s at %s (%s)", p.PublicKey, p.Configured, p.ResolveError))
			continue
		}
		found = append(found, fmt.Sprintf("no handshake with %s at %s (sent %d bytes, received %d)", p.PublicKey, p.Endpoint, p.TxBytes, p.RxBytes))
		if ap, err := netip.ParseAddrPort(p.Endpoint); err == nil && !slices.Contains(ports, strconv.Itoa(int(ap.Port()))) {
			ports = append(ports, strconv.Itoa(int(ap.Port())))
		}
	}
	udp := "that UDP port is open on the way"
	if len(ports) == 1 {
		udp = "that UDP port " + ports[0] + " is open on the way"
	} else if len(ports) > 1 {
		udp = "that UDP ports " + strings.Join(ports, ", ") + " are open on the way"
	}
	addrs := "this node's addresses"
	if len(conf.Interface.Addresses) > 0 {
		addrs = "this node's addresses " + joinPrefixes(conf.Interface.Addresses)
	}
	action := fmt.Sprintf("check that the peer is up and reachable at that address and port, that its config lists this node's public key %s with AllowedIPs covering %s, and %s; homestaker.wg=optional boots without the tunnel",
		conf.PublicKey(), addrs, udp)
	return report.Fail(expected, strings.Join(found, "\n"), action)
}

func orConfigured(p PeerStatus) string {
	if p.Endpoint != "" {
		return p.Endpoint
	}
	return p.Configured
}

// shortKey abbreviates a public key for a status line: "fE/wdx…=".
func shortKey(k string) string {
	if len(k) < 8 {
		return k
	}
	return k[:6] + "…="
}

// seconds renders a duration as the summary line does: "0.4s", or "3ms"
// for what a tenth of a second would round to nothing.
func seconds(d time.Duration) string {
	if d < 100*time.Millisecond {
		return d.Round(time.Millisecond).String()
	}
	return strconv.FormatFloat(d.Seconds(), 'f', 1, 64) + "s"
}
