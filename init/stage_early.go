package main

import (
	"context"
	"errors"
	"os"
	"strings"
	"time"

	"github.com/homestaker/homestaker-boot/init/config"
	"github.com/homestaker/homestaker-boot/init/kmod"
	"github.com/homestaker/homestaker-boot/init/panics"
	"github.com/homestaker/homestaker-boot/init/plan"
	"github.com/homestaker/homestaker-boot/init/report"
)

// early finishes the early stage: what the mounts and the configuration
// found, and the kernel modules.
func (b *boot) early(ctx context.Context, rec *plan.Record, mountErr error, problems []config.Problem) error {
	if mountErr != nil {
		rec.Warn("%v", mountErr)
	}
	var bad []string
	for _, p := range problems {
		if p.Unknown {
			rec.Warn("%s", p.Error())
			continue
		}
		bad = append(bad, p.Error())
	}
	if len(bad) > 0 {
		return report.Fail("valid homestaker.* parameters on the kernel command line", strings.Join(bad, "\n"),
			"correct the parameter in the boot loader's command line (or the PXE script), then reboot; `cat /proc/cmdline` shows what the kernel got")
	}
	if config.RedactURLs(b.cmdline) != b.cmdline {
		rec.Warn("a URL on the kernel command line carries credentials (a user, a password or query values): this init never shows them, but the kernel prints its command line at boot and /proc/cmdline shows it to every process; prefer a source that needs none (a signed tree, or one served inside the tunnel)")
	}
	if err := linkCLI(); err != nil {
		rec.Warn("`homestaker retry` will not be on the rescue shell's PATH: %v", err)
	}
	// The watchdog is armed once its driver is loaded, at the end of the
	// stage.
	defer b.armWatchdog(rec)

	release := kernelRelease()
	dir := "/lib/modules/" + release
	if _, err := os.Stat(dir); err != nil {
		carried, _ := os.ReadDir("/lib/modules")
		if len(carried) > 0 {
			rec.Warn("this initramfs carries modules for %s, not for the running kernel %s: no modules loaded; rebuild the initramfs for this kernel", carried[0].Name(), release)
		}
		rec.Summary("no kernel modules for %s", release)
		return nil
	}
	// Drivers for the devices present (as udev's coldplug would), plus what
	// the boot needs that no device asks for (kmod.BootModules says which
	// and why).
	always := append([]string(nil), kmod.BootModules...)
	if len(b.cfg.VLANs) > 0 {
		always = append(always, kmod.VLANModule)
	}
	res, err := kmod.Coldplug(ctx, dir, always, b.moduleParams(), func(format string, args ...any) {})
	// The loader's lines stay off the console, but not a bug's stack.
	for _, m := range res.Modules {
		var bug *panics.Error
		if errors.As(m.Err, &bug) {
			rec.Printf("%s", bug.Report())
		}
	}
	// The drivers that took the devices, by name: on a machine whose NIC
	// or disk is not found, the first thing to look at.
	var loaded []string
	for _, m := range res.Modules {
		if m.Err == nil {
			loaded = append(loaded, m.Name)
		}
	}
	if len(loaded) > 0 {
		rec.Printf("kernel modules: %s", strings.Join(loaded, " "))
	}
	rec.Fact("modules", len(res.Modules))
	rec.Fact("modules_ms", res.Duration.Milliseconds())
	if err != nil {
		// A missing NIC or disk driver shows up in the stage that needs
		// it; here it is a warning.
		rec.Warn("%v", err)
	}
	rec.Summary("%d kernel modules loaded for the devices present in %s", len(res.Modules), res.Duration.Round(time.Millisecond))
	return nil
}

// moduleParams are the modules' parameters from the kernel command line,
// as modprobe would pass them. For homestaker.watchdog.kexec=keep the
// watchdog core is told not to stop the watchdog at the kexec (its
// reboot notifier would), unless the command line says otherwise.
func (b *boot) moduleParams() map[string]string {
	var words []string
	for _, p := range config.Tokenize(b.cmdline) {
		if p.HasValue {
			words = append(words, p.Key+"="+p.Value)
		} else {
			words = append(words, p.Key)
		}
	}
	params := kmod.CmdlineParams(words)
	if !b.cfg.WatchdogStop && !strings.Contains(" "+params["watchdog"], " stop_on_reboot=") {
		params["watchdog"] = strings.TrimSpace(params["watchdog"] + " stop_on_reboot=0")
	}
	return params
}
