package main

import (
	"fmt"
	"strings"
	"time"

	"github.com/homestaker/homestaker-boot/init/console"
	"github.com/homestaker/homestaker-boot/init/wg"
)

// tunnelState is the rescue greeting's view of the tunnel, one line per
// peer: when the last handshake was, so that an operator who logged in
// over a tunnel that went quiet sees whether the way in still holds.
func tunnelState(name string, peers []wg.PeerStatus, err error) string {
	if err != nil {
		return fmt.Sprintf("tunnel %s: state unknown: %s\n", name, console.Escape(err.Error()))
	}
	var sb strings.Builder
	for _, p := range peers {
		at := p.Endpoint
		if at == "" {
			at = p.Configured
		}
		if at != "" {
			// Endpoints and resolver errors come from the file and
			// the network.
			at = " at " + console.Escape(at)
		}
		if !p.Handshake.IsZero() {
			fmt.Fprintf(&sb, "tunnel %s: last handshake %s ago with %s%s\n", name, p.HandshakeAge.Round(time.Second), wg.ShortKey(p.PublicKey), at)
			continue
		}
		why := fmt.Sprintf("sent %d bytes, received %d", p.TxBytes, p.RxBytes)
		if p.ResolveError != "" {
			why = console.Escape(p.ResolveError)
		}
		fmt.Fprintf(&sb, "tunnel %s: no handshake yet with %s%s (%s)\n", name, wg.ShortKey(p.PublicKey), at, why)
	}
	return sb.String()
}
