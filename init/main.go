// Command init is homestaker-boot's PID 1: it takes a bare staking server
// to a running HomestakerOS. This file is the boot plan; each stage's body
// is in stage_<name>.go and its work in its own package.
package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

	"github.com/homestaker/homestaker-boot/init/config"
	"github.com/homestaker/homestaker-boot/init/console"
	"github.com/homestaker/homestaker-boot/init/control"
	"github.com/homestaker/homestaker-boot/init/early"
	"github.com/homestaker/homestaker-boot/init/logship"
	"github.com/homestaker/homestaker-boot/init/netup"
	"github.com/homestaker/homestaker-boot/init/nextstage"
	"github.com/homestaker/homestaker-boot/init/plan"
	"github.com/homestaker/homestaker-boot/init/report"
	"github.com/homestaker/homestaker-boot/init/rescue"
	"github.com/homestaker/homestaker-boot/init/storage"
	"github.com/homestaker/homestaker-boot/init/watchdog"
	"github.com/homestaker/homestaker-boot/init/wg"
)

// version is the init's release, shown at start and in the report.
const version = "0.1.0-dev"

func main() {
	// The rescue shells reach the init as `homestaker` (a link to /init).
	if filepath.Base(os.Args[0]) == "homestaker" {
		os.Exit(cli(os.Args[1:]))
	}
	mountErr := early.Mount()
	con := console.Open()
	// Every line from the first on is kept for a log collector, until the
	// command line says whether there is one (startLog).
	ship := logship.New(logship.DefaultCapacity)
	con.Forward(ship.Console)
	con.Printf("homestaker-boot %s: init started at %s", version, console.Uptime().Round(time.Millisecond))
	early.Reap(func(format string, args ...any) { con.Status(console.Failed, "reaper", format, args...) })

	cmdline := readCmdline()
	cfg, problems := loadConfig(cmdline)
	// The report (on the console, the volume and to the next system) gets
	// the command line without the credentials a URL in it may carry.
	b := &boot{cfg: cfg, con: con, ship: ship, cmdline: cmdline, rep: &report.Report{Version: version, Kernel: kernelRelease(), Cmdline: config.RedactURLs(cmdline)}}

	b.startLog()

	// PID 1 must never exit: a panic becomes a failure like any other.
	defer func() {
		if p := recover(); p != nil {
			con.Printf("%s", debug.Stack())
			f := &report.Failure{Stage: "init", Expected: "the boot to run to the handover", Found: fmt.Sprintf("internal error: %v", p), Action: "this is a bug in homestaker-boot; report it with the console log"}
			for {
				// A retry cannot resume a panicked plan.
				b.fail(f).Finish("the init itself failed; reboot")
			}
		}
	}()

	stages := b.plan(mountErr, problems)
	runner := &plan.Runner{
		Console: con,
		Report:  b.rep,
		Break:   cfg.Break,
		OnBreak: b.breakShell,
	}
	b.runner = runner
	f := b.run(stages)
	// A stopped boot runs again, from the stage that failed, each time a
	// rescue shell asks (`homestaker retry`); the handover never returns.
	runner.Break = ""
	for {
		if f == nil {
			f = &report.Failure{Stage: "handover", Expected: "the handover to start the next stage", Found: "the boot plan ended without a handover", Action: "this is a bug in homestaker-boot; report it with the console log"}
		}
		req := b.fail(f)
		stop := con.Tee(req)
		con.Status(console.Info, "retry", "running the boot again from %s (homestaker retry)", f.Stage)
		f = b.run(stages)
		stop()
		if f != nil {
			req.Finish("the boot stopped again in stage %s: %s", f.Stage, f.Found)
		}
	}
}

// plan is the boot: network and storage run at the same time; the tunnel
// needs both (its config is on the volume) but not the secrets stage, so
// that a bad JWT leaves the operator a way in. The next stage waits for
// what its sources need (sourceNeeds), the handover for everything.
func (b *boot) plan(mountErr error, problems []config.Problem) []plan.Stage {
	cfg := b.cfg
	return []plan.Stage{
		{Name: "early", Run: func(ctx context.Context, rec *plan.Record) error { return b.early(ctx, rec, mountErr, problems) }},
		{Name: "network", After: []string{"early"}, Timeout: cfg.Timeouts.Net, TimeoutKey: "homestaker.timeout.net", Run: b.network},
		{Name: "storage", After: []string{"early"}, Timeout: cfg.Timeouts.Disk, TimeoutKey: "homestaker.timeout.disk", Run: b.storage},
		// Bounded like the others: a volume's file that blocks the stage
		// must not hang the boot (volfile refuses FIFOs; a dying disk can
		// still stall a read).
		{Name: "secrets", After: []string{"storage"}, Timeout: cfg.Timeouts.Secrets, TimeoutKey: "homestaker.timeout.secrets", Run: b.secrets},
		// The handshake wait is bounded by homestaker.timeout.wg; the stage
		// also resolves endpoints and sets up the device.
		{Name: "wireguard", After: []string{"network", "storage"}, Timeout: cfg.Timeouts.WG + 10*time.Second, TimeoutKey: "homestaker.timeout.wg", Run: b.wireguard},
		// A retry locates, opens and verifies the next stage again: the
		// handover used up the files, and the operator may have fixed them.
		// No stage timeout: a 4 GB download takes what it takes, and a
		// stage within its timeout keeps the watchdog pinged, so a long
		// one would blunt the watchdog. Its sources are bounded one by
		// one instead: volfile never blocks on a FIFO, http gives up a
		// source that does not answer or stalls, and a hung read with no
		// console line for half the watchdog's timeout gets the reset.
		{Name: "nextstage", After: nextstageNeeds(cfg).after(), Rerun: true, Run: b.nextstage},
		// Between the next stage and the handover, when no client runs:
		// snapshots of the client data before a new tree, the rollback
		// when boot counting gave one up. It never fails the boot.
		{Name: "snapshot", After: []string{"nextstage", "storage", "secrets"}, Run: b.snapshot},
		{Name: "handover", After: []string{"nextstage", "snapshot", "secrets", "wireguard"}, Run: b.handover},
	}
}

// run runs the plan, telling the watchdog that the boot is under way.
func (b *boot) run(stages []plan.Stage) *report.Failure {
	b.planning.Store(true)
	defer b.planning.Store(false)
	b.wg0.forget() // a retry reads wg0.conf again: the operator may have fixed it
	return b.runner.Run(context.Background(), stages)
}

// cli is `homestaker` inside the initramfs: the commands a rescue shell
// has.
func cli(args []string) int {
	if len(args) == 1 && args[0] == "retry" {
		return control.Retry(control.Socket, os.Stdout)
	}
	if len(args) == 1 && args[0] == sftpServerCommand {
		return sftpServer()
	}
	fmt.Fprintf(os.Stderr, "usage: homestaker retry\n\nIn the rescue shell of a stopped boot: runs the boot again from the stage\nthat failed, after the cause was fixed, and shows its progress.\n(The operator's homestaker CLI with prepare, check, install-next and\nchainload runs on the fallback Linux, not here.)\n")
	if len(args) == 1 && (args[0] == "--help" || args[0] == "-h" || args[0] == "help") {
		return 0
	}
	return 2
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

// Where the initramfs keeps what it trusts: minisign public keys (one per
// file, so an appended cpio archive can add one) and the CA bundle for
// https sources.
const (
	trustedKeysDir = "/etc/homestaker/trusted.d"
	caBundle       = "/etc/ssl/certs/ca-certificates.crt"
	reportsDir     = "boot/reports" // on the volume's top level
)

// boot is the state the stages hand on to each other. Each field is
// written by the one stage named beside it and read only by stages that the
// plan's After lists order after that one (or, for the failure path, once the
// plan has stopped), so no field needs a lock unless it says so.
type boot struct {
	cfg     config.Config    // main, before the plan; read-only after
	cmdline string           // main; the kernel's command line as given, credentials and all: never printed
	con     *console.Console // main, before the plan; safe for concurrent use
	ship    *logship.Shipper // main, before the plan; safe for concurrent use
	rep     *report.Report   // main; stages write it through their plan.Record, which locks

	netw    *netup.State      // network; nil when it failed or has not run
	volume  *storage.Volume   // storage; nil when it failed or has not run
	wg0     wg0Conf           // secrets or wireguard, whichever asks first, once per run (wireGuardConf); locks itself
	tunnel  *wg.Tunnel        // wireguard; nil when off or failed
	next    *nextstage.Loaded // nextstage; closed by handover after the load
	counted map[string]bool   // nextstage; the volume trees this boot has counted, so a retry counts once
	// passedOver are the volume trees boot counting gave up this run
	// (nextstage), for the snapshot stage's rollback.
	passedOver []*nextstage.PassedOver

	dog      *watchdog.Dog   // early (armWatchdog); nil when the machine has none
	ctl      *control.Server // fail, at the first failure: serves `homestaker retry`
	rescue   *rescue.Server  // fail (startRescue), at the first failure with the tunnel up
	loggedIn chan string     // fail; rescue logins, to cancel a reboot countdown

	runner   *plan.Runner // main, before the first run
	planning atomic.Bool  // run; true while the plan runs and no break shell is open

	// logRoute: which stages that the route to the collector depends on
	// have ended, and whether the shipper may send.
	logNet, logDisk, logReleased atomic.Bool
}
