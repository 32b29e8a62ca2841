package main

import (
	"context"

	"github.com/homestaker/homestaker-boot/init/console"
	"github.com/homestaker/homestaker-boot/init/report"

	"github.com/homestaker/homestaker-boot/init/netup"
	"github.com/homestaker/homestaker-boot/init/plan"
)

func (b *boot) network(ctx context.Context, rec *plan.Record) error {
	defer b.logRoute("network")
	var err error
	b.netw, err = netup.Up(ctx, b.cfg, rec, netup.Options{SetClock: true, LeaseChanged: b.leaseChanged})
	return err
}

// leaseChanged puts a renewed or new DHCP lease into the report, which a
// stopped boot's operator reads, while the boot waits.
func (b *boot) leaseChanged(key string, fact any) {
	b.rep.SetFact("network", key, fact)
	if err := b.rep.Save(report.Path); err != nil {
		b.con.Status(console.Warn, "network", "%v", err)
	}
}
