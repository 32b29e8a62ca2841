// Command init is homestaker-boot's PID 1: it takes a bare staking server
// to a running HomestakerOS. This file is the boot plan; each stage lives
// in its own package.
package main

import (
	"context"
	"fmt"
	"os"
	"runtime/debug"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/homestaker/homestaker-boot/init/config"
	"github.com/homestaker/homestaker-boot/init/console"
	"github.com/homestaker/homestaker-boot/init/early"
	"github.com/homestaker/homestaker-boot/init/handover"
	"github.com/homestaker/homestaker-boot/init/kmod"
	"github.com/homestaker/homestaker-boot/init/nextstage"
	"github.com/homestaker/homestaker-boot/init/onfail"
	"github.com/homestaker/homestaker-boot/init/plan"
	"github.com/homestaker/homestaker-boot/init/report"
	"github.com/homestaker/homestaker-boot/init/storage"
)

// version is the init's release, shown at start and in the report.
const version = "0.1.0-dev"

func main() {
	mountErr := early.Mount()
	con := console.Open()
	con.Printf("homestaker-boot %s: init started at %s", version, console.Uptime().Round(time.Millisecond))
	early.Reap()

	cmdline := readCmdline()
	rep := &report.Report{Version: version, Kernel: kernelRelease(), Cmdline: cmdline}
	cfg, problems := loadConfig(cmdline)

	// PID 1 must never exit: a panic becomes a failure like any other.
	defer func() {
		if p := recover(); p != nil {
			f := &report.Failure{Stage: "init", Expected: "the boot to run to the handover", Found: fmt.Sprintf("internal error: %v", p), Action: "this is a bug in homestaker-boot; report it with the console log"}
			con.Printf("%s", debug.Stack())
			fail(con, rep, cfg, f)
		}
	}()

	var (
		next   *nextstage.Loaded
		volume *storage.Volume
	)
	// The next stage waits for the volume only when it comes from it.
	nextAfter := []string{"early"}
	for _, src := range cfg.Next {
		if src.Kind == config.SourceVolume {
			nextAfter = []string{"storage"}
		}
	}
	stages := []plan.Stage{
		{Name: "early", Run: func(ctx context.Context, rec *plan.Record) error {
			return runEarly(ctx, rec, mountErr, problems)
		}},
		{Name: "storage", After: []string{"early"}, Timeout: cfg.Timeouts.Disk, TimeoutKey: "homestaker.timeout.disk", Run: func(ctx context.Context, rec *plan.Record) error {
			var err error
			volume, err = runStorage(ctx, rec, cfg)
			return err
		}},
		{Name: "secrets", After: []string{"storage"}, Run: func(ctx context.Context, rec *plan.Record) error {
			return runSecrets(rec, cfg)
		}},
		{Name: "nextstage", After: nextAfter, Run: func(ctx context.Context, rec *plan.Record) error {
			var err error
			root := ""
			if volume != nil {
				root = storage.TopLevel
			}
			next, err = nextstage.Locate(ctx, cfg.Next, root, func(src config.Source, err error) {
				rec.Warn("%s: %v; trying the next source", src, err)
			})
			if err != nil {
				return err
			}
			// Checking SHA256SUMS and its signature comes with the
			// next-stage issue; until then say so every boot.
			if cfg.Verify != config.VerifyOff {
				rec.Warn("the tree was not verified: homestaker.verify=%s is not implemented in this build", cfg.Verify)
			}
			rec.Fact("source", next.Source.String())
			rec.Fact("tree", next.Tree)
			rec.Summary("%s: %s from %s", next.Source, next.Tree.Kernel, next.Tree.From)
			return nil
		}},
		{Name: "handover", After: []string{"nextstage", "secrets"}, Run: func(ctx context.Context, rec *plan.Record) error {
			if cfg.Handover != config.HandoverKexec {
				return report.Fail("a handover this build can do", "homestaker.handover="+cfg.Handover.String(),
					"switch_root is not in this build yet: boot with homestaker.handover=kexec")
			}
			cmdline, err := handover.LoadKexec(next, nil)
			if err != nil {
				return err
			}
			// The kernel has its copy; nothing on the volume is needed now.
			next.Close()
			unix.Sync()
			if volume != nil {
				if err := volume.Unmount(); err != nil {
					rec.Warn("%v", err)
				}
			}
			rec.Fact("cmdline", cmdline)
			rec.Summary("kexec into %s/%s", next.Dir, next.Tree.Kernel)
			rec.Announce()
			rep.Finish(report.OK, nil)
			if err := rep.Save(report.Path); err != nil {
				rec.Warn("%v", err)
			}
			return handover.Jump()
		}},
	}

	runner := &plan.Runner{
		Console: con,
		Report:  rep,
		Break:   cfg.Break,
		OnBreak: func(string) { _ = onfail.Shell() },
	}
	f := runner.Run(context.Background(), stages)
	if f == nil {
		f = &report.Failure{Stage: "handover", Expected: "the handover to start the next stage", Found: "the boot plan ended without a handover", Action: "this is a bug in homestaker-boot; report it with the console log"}
	}
	fail(con, rep, cfg, f)
}

// fail records the failure and hands the console to the operator; it does
// not return.
func fail(con *console.Console, rep *report.Report, cfg config.Config, f *report.Failure) {
	rep.Finish(report.Failed, f)
	if err := rep.Save(report.Path); err != nil {
		con.Status(console.Warn, "report", "%v", err)
	}
	onfail.Handle(con, f, cfg.OnFail, report.Path)
}

// loadConfig reads the baked-in defaults and then the kernel command line
// over them.
func loadConfig(cmdline string) (config.Config, []config.Problem) {
	cfg := config.Defaults()
	var problems []config.Problem
	if b, err := os.ReadFile(config.DefaultsPath); err == nil {
		cfg, problems = config.ParseDefaults(string(b), cfg)
	}
	cfg, more := config.Parse(cmdline, cfg)
	return cfg, append(problems, more...)
}

// runEarly finishes the early stage: what the mounts and the configuration
// found, and the kernel modules.
func runEarly(ctx context.Context, rec *plan.Record, mountErr error, problems []config.Problem) error {
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
	// the boot needs that no device asks for: Btrfs, the tunnel's tun, and
	// the disk drivers for devices that appear late (SATA and USB disks
	// probe asynchronously).
	res, err := kmod.Coldplug(ctx, dir, []string{"btrfs", "tun", "sd_mod", "usb_storage", "uas"}, func(format string, args ...any) {})
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

func readCmdline() string {
	b, err := os.ReadFile("/proc/cmdline")
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}

func kernelRelease() string {
	var u unix.Utsname
	if err := unix.Uname(&u); err != nil {
		return ""
	}
	return unix.ByteSliceToString(u.Release[:])
}
