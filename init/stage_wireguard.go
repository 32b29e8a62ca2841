package main

import (
	"context"

	"github.com/homestaker/homestaker-boot/init/config"
	"github.com/homestaker/homestaker-boot/init/plan"
	"github.com/homestaker/homestaker-boot/init/report"
	"github.com/homestaker/homestaker-boot/init/wg"
)

// wireguard brings the tunnel up from wg0.conf and waits for a handshake.
// It needs only a valid wg0.conf and the network: a bad JWT must not keep
// the operator from getting in over the VPN to fix it. Without a handshake
// the tunnel stays up, for when the peer comes back.
func (b *boot) wireguard(ctx context.Context, rec *plan.Record) error {
	defer b.logRoute("wireguard")
	if b.cfg.WG == config.WGOff {
		rec.Summary("not started (homestaker.wg=off)")
		return nil
	}
	err := b.startTunnel(ctx, rec)
	if err != nil && b.cfg.WG == config.WGOptional {
		rec.Warn("%v; going on without the tunnel (homestaker.wg=optional)", err)
		return nil
	}
	return err
}

func (b *boot) startTunnel(ctx context.Context, rec *plan.Record) error {
	wg0 := b.wireGuardConf()
	conf := wg0.Config
	if conf == nil {
		return report.Fail("a valid wg0.conf in the secrets subvolume", wg0.Check.Message, wg0.Check.Action)
	}
	o := wg.Options{ResolvConf: "/etc/resolv.conf"}
	if b.netw != nil {
		o.Gateway, o.GatewayLink = b.netw.Gateway, b.netw.GatewayLink
	}
	t, err := wg.Up(ctx, conf, o, rec)
	if err != nil {
		return err
	}
	b.tunnel = t
	hctx, cancel := context.WithTimeout(ctx, b.cfg.Timeouts.WG)
	defer cancel()
	_, err = t.WaitHandshake(hctx)
	return err
}
