package main

import (
	"context"

	"github.com/homestaker/homestaker-boot/init/netup"
	"github.com/homestaker/homestaker-boot/init/plan"
)

func (b *boot) network(ctx context.Context, rec *plan.Record) error {
	var err error
	b.netw, err = netup.Up(ctx, b.cfg, rec, netup.Options{SetClock: true})
	return err
}
