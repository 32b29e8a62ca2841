package main

import (
	"context"
	"net"
	"net/netip"
	"time"

	"github.com/homestaker/homestaker-boot/init/config"
	"github.com/homestaker/homestaker-boot/init/console"
	"github.com/homestaker/homestaker-boot/init/logship"
	"github.com/homestaker/homestaker-boot/init/panics"
	"github.com/homestaker/homestaker-boot/init/wgconf"
)

// logFlushTimeout bounds the handover's wait for the collector: long
// enough for a round trip through the tunnel under load, short enough
// that a collector gone quiet does not hold the machine's next system.
const logFlushTimeout = 3 * time.Second

// startLog sends the lines the console has queued since the init started
// (homestaker.log=), and the kernel's log, or drops them when no
// collector is configured.
func (b *boot) startLog() {
	if !b.cfg.Log.On() {
		b.con.Forward(nil)
		b.ship.Discard()
		return
	}
	b.ship.Start(b.cfg.Log, logship.Options{Printf: func(format string, args ...any) {
		b.con.Status(console.Info, "log", format, args...)
	}})
	if err := b.ship.ReadKernel(logship.KmsgPath); err != nil {
		b.con.Status(console.Warn, "log", "the kernel's log is not sent: %v", err)
	}
	b.con.Status(console.Info, "log", "lines go to %s once a route to it exists", b.cfg.Log)
}

// logRoute is called at the end of the network, storage and wireguard
// stages: the shipper may send once the route to the collector is the one
// it will have. That is after the network stage, unless the collector is
// inside the tunnel (an address in a peer's AllowedIPs), whose route the
// wireguard stage adds: before, the default route would take its lines
// to the LAN gateway, where UDP ones would be lost.
func (b *boot) logRoute(stage string) {
	if !b.cfg.Log.On() || b.logReleased.Load() {
		return
	}
	switch stage {
	case "network":
		b.logNet.Store(true)
	case "storage":
		b.logDisk.Store(true)
	case "wireguard":
		b.releaseLog()
		return
	}
	if !b.logNet.Load() {
		return
	}
	if b.cfg.WG == config.WGOff {
		// No tunnel: the network's routes are the ones there will be.
		b.releaseLog()
		return
	}
	if !b.logDisk.Load() {
		return
	}
	// wg0.conf is on the volume, now mounted; a host name needs the DNS
	// servers the network stage found. Neither may hold up a stage.
	go panics.Run("finding the route to the log collector", b.con.Printf, func() {
		conf := b.wireGuardConf().Config
		if conf == nil || !behindTunnel(conf, b.collectorAddrs()) {
			b.releaseLog()
		}
	})
}

// releaseLog lets the shipper send from now on.
func (b *boot) releaseLog() {
	if b.cfg.Log.On() && !b.logReleased.Swap(true) {
		b.ship.Release()
	}
}

// collectorAddrs is the collector's address, or its host name's.
func (b *boot) collectorAddrs() []netip.Addr {
	if a, ok := b.cfg.Log.IP(); ok {
		return []netip.Addr{a}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	addrs, _ := net.DefaultResolver.LookupNetIP(ctx, "ip", b.cfg.Log.Host)
	return addrs
}

// behindTunnel says whether any of addrs is routed into the tunnel.
func behindTunnel(conf *wgconf.Config, addrs []netip.Addr) bool {
	for _, p := range conf.Peers {
		for _, pre := range p.AllowedIPs {
			for _, a := range addrs {
				if pre.Contains(a.Unmap()) {
					return true
				}
			}
		}
	}
	return false
}

// flushLog sends what is queued, the handover's line or the failure's
// banner included, before the handover takes down what the route to the
// collector needs (the tunnel), or a reboot the machine. Bounded: a
// collector gone quiet costs logFlushTimeout at most.
func (b *boot) flushLog(when string) {
	if !b.cfg.Log.On() {
		return
	}
	if err := b.ship.Flush(logFlushTimeout); err != nil {
		// The console still shows it; the collector will not.
		b.con.Status(console.Warn, "log", "%s: %v", when, err)
	}
}
