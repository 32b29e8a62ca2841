package main

import (
	"context"
	"fmt"
	"strings"

	"github.com/homestaker/homestaker-boot/init/english"
	"github.com/homestaker/homestaker-boot/init/plan"
	"github.com/homestaker/homestaker-boot/init/storage"
)

// storage finds the volume by label and mounts it.
func (b *boot) storage(ctx context.Context, rec *plan.Record) error {
	defer b.logRoute("storage")
	cfg := b.cfg
	o := storage.Options{
		Label: cfg.Label, LabelSet: cfg.LabelSet, Mnt: cfg.Mnt, Subvols: cfg.Subvols, Degraded: cfg.Degraded,
		SysBlock: "/sys/class/block", DevDir: "/dev",
	}
	fs, fallback, waited, err := storage.Find(ctx, o, rec)
	rec.Fact("waited_for_devices_ms", waited.Milliseconds())
	if err != nil {
		return err
	}
	if fallback {
		rec.Warn("no filesystem labelled %q; using %q, the label the getting-started guide also uses (homestaker.label= silences this)", cfg.Label, fs.Label)
	}
	v, err := storage.Mount(fs, o, rec)
	if err != nil {
		return err
	}
	b.volume = v
	v.Fallback, v.WaitedMS = fallback, waited.Milliseconds()
	rec.Fact("volume", v)
	state := ""
	if v.Degraded {
		state = ", DEGRADED"
	}
	devs := fmt.Sprintf("%d of %d %s: %s%s", len(v.Devices), v.NumDevices, english.Plural(int(v.NumDevices), "device", "devices"), strings.Join(v.Devices, " "), state)
	if v.Type == storage.FSBtrfs && v.Whole == "" {
		rec.Summary("%s (%s) mounted at %s, waited %dms for devices", v.Label, devs, cfg.Mnt, v.WaitedMS)
		return nil
	}
	rec.Summary("%s: %s, %s, mounted at %s (%s), waited %dms for devices", v.Label, v.Type, v.Layout(), cfg.Mnt, devs, v.WaitedMS)
	return nil
}
