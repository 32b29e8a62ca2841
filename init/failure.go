package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/homestaker/homestaker-boot/init/config"
	"github.com/homestaker/homestaker-boot/init/console"
	"github.com/homestaker/homestaker-boot/init/control"
	"github.com/homestaker/homestaker-boot/init/early"
	"github.com/homestaker/homestaker-boot/init/onfail"
	"github.com/homestaker/homestaker-boot/init/plan"
	"github.com/homestaker/homestaker-boot/init/report"
	"github.com/homestaker/homestaker-boot/init/rescue"
	"github.com/homestaker/homestaker-boot/init/secrets"
	"github.com/homestaker/homestaker-boot/init/watchdog"
)

// defaultWatchdog is the watchdog timeout when the machine has one and
// homestaker.watchdog is not given.
const defaultWatchdog = 120 * time.Second

// fail records the failure, starts what lets the operator in (the
// control socket for `homestaker retry`, the rescue SSH server) and hands
// the console over. It returns only when a rescue shell asks for a retry.
func (b *boot) fail(f *report.Failure) *control.Request {
	// The boot stopped: whatever route there is to the collector is the
	// one it gets, and the operator wants the banner there.
	b.releaseLog()
	b.rep.Finish(report.Failed, f)
	if err := b.rep.Save(report.Path); err != nil {
		b.con.Status(console.Warn, "report", "%v", err)
	}
	if b.ctl == nil {
		var err error
		if b.ctl, err = control.Listen(control.Socket, b.con.Printf); err != nil {
			b.con.Status(console.Warn, "retry", "`homestaker retry` will not work: %v", err)
		}
	}
	return onfail.Handle(b.con, f, onfail.Options{
		Action: b.cfg.OnFail,
		Report: report.Path,
		Retry:  b.ctl.Requests(),
		Cancel: b.loggedIn,
		Rescue: b.startRescue(),
		// The banner reaches the collector before the machine goes.
		BeforeReboot: func() { b.flushLog("before the reboot") },
	})
}

// breakShell is homestaker.break: a shell before the stage. With a
// watchdog armed, nobody at the console is a hang: the pings stop until a
// key is pressed, and the watchdog resets the machine if none is.
func (b *boot) breakShell(stage string) {
	if b.dog != nil {
		b.con.Status(console.Info, "break", "press any key on the console for the shell; until then the watchdog is not pinged and resets the machine in %s", b.dog.Timeout)
		b.dog.Hold()
		err := onfail.WaitKey(context.Background(), onfail.Console)
		b.dog.Release()
		if err != nil {
			b.con.Status(console.Warn, "break", "%v; starting the shell", err)
		}
	}
	// The operator is at the shell: no output is no hang.
	b.planning.Store(false)
	defer b.planning.Store(true)
	if err := onfail.Shell(b.con); err != nil {
		b.con.Status(console.Failed, "break", "%v; the boot goes on", err)
	}
}

// alive tells the watchdog whether the boot is making progress: a stage
// still within its timeout (the runner bounds it), or a console line
// within half the watchdog's timeout. Outside the plan (a stopped boot
// waiting for its operator, a break shell) nothing is expected to happen.
func (b *boot) alive() bool {
	if !b.planning.Load() || b.runner == nil {
		return true
	}
	return b.runner.Watched() || time.Since(b.con.LastLine()) < b.dog.Timeout/2
}

// armWatchdog arms the hardware watchdog, once its driver is loaded.
func (b *boot) armWatchdog(rec *plan.Record) {
	timeout := defaultWatchdog
	if b.cfg.WatchdogSet {
		if b.cfg.Watchdog == 0 {
			rec.Printf("watchdog: off (homestaker.watchdog=off)")
			return
		}
		timeout = b.cfg.Watchdog
	}
	// The pinger outlives the stage: a bug in it goes to the console.
	d, err := watchdog.Arm(watchdog.Device, timeout, func(format string, args ...any) {
		b.con.Status(console.Failed, "watchdog", format, args...)
	})
	if errors.Is(err, fs.ErrNotExist) {
		if b.cfg.WatchdogSet {
			rec.Warn("homestaker.watchdog=%d: this machine has no %s (no watchdog, or no driver for it in the initramfs)", int(timeout/time.Second), watchdog.Device)
		}
		return
	}
	if err != nil {
		rec.Warn("watchdog not armed: %v", err)
		return
	}
	b.dog = d
	d.Watch(b.alive)
	rec.Fact("watchdog", map[string]any{"identity": d.Identity, "timeout_s": int(d.Timeout / time.Second)})
	rec.Printf("watchdog %q armed: the machine resets if the boot hangs (no stage within its timeout and no console line for %s) for %s (homestaker.watchdog=)", d.Identity, d.Timeout/2, d.Timeout)
}

// handOverWatchdog applies homestaker.watchdog.kexec before the jump.
func (b *boot) handOverWatchdog(rec *plan.Record) {
	if b.dog == nil {
		return
	}
	if b.cfg.WatchdogStop {
		if err := b.dog.Stop(); err != nil {
			rec.Warn("stopping the watchdog: %v (a driver built with nowayout cannot be stopped)", err)
			return
		}
		rec.Printf("watchdog stopped (homestaker.watchdog.kexec=stop)")
		return
	}
	if err := b.dog.Keep(); err != nil {
		rec.Warn("watchdog: %v", err)
	}
	// The watchdog core stops watchdogs at a kexec unless told otherwise
	// (moduleParams tells it when it is a module).
	if v, err := os.ReadFile("/sys/module/watchdog/parameters/stop_on_reboot"); err == nil && strings.TrimSpace(string(v)) == "1" {
		rec.Warn("the kernel stops the watchdog at the kexec (watchdog.stop_on_reboot=1): it does not stay armed into the next system")
		return
	}
	rec.Printf("watchdog left running: the next system's watchdog daemon must take it over within %s (homestaker.watchdog.kexec=stop disarms it)", b.dog.Timeout)
}

// linkCLI makes `homestaker` in the rescue shells reach this init.
func linkCLI() error {
	err := os.Symlink("/init", "/bin/homestaker")
	if errors.Is(err, fs.ErrExist) {
		return nil
	}
	return err
}

// rescueWanted says whether a failure with this action gets the rescue
// SSH server: with a shell unless homestaker.rescue=off, before a reboot
// only with homestaker.rescue=ssh.
func rescueWanted(cfg config.Config) bool {
	switch cfg.OnFail.Action {
	case config.OnFailShell:
		return cfg.Rescue != config.RescueOff
	case config.OnFailReboot:
		return cfg.Rescue == config.RescueSSH
	}
	return false
}

// builtinAuthorizedKeys holds operator keys built into the initramfs, one
// authorized_keys file each.
const builtinAuthorizedKeys = "/etc/homestaker/authorized_keys.d"

// startRescue starts the rescue SSH server on the tunnel's addresses when
// the failure's action calls for it, and says how to reach it ("" when it
// does not run). It is started once; later failures reuse it.
func (b *boot) startRescue() string {
	if b.rescue != nil {
		return b.rescueHint()
	}
	if !rescueWanted(b.cfg) {
		return ""
	}
	if b.tunnel == nil {
		if b.cfg.Rescue == config.RescueSSH {
			return "rescue SSH: not started, the WireGuard tunnel is not up"
		}
		return ""
	}
	secretsDir := filepath.Join(b.cfg.Mnt, b.cfg.Subvols[0])
	hostKey := filepath.Join(secretsDir, secrets.HostKey)
	if _, err := os.Stat(hostKey); err != nil {
		// The volume could not give the node's identity (a full volume,
		// say): a key for this boot only, announced by fingerprint.
		fp, _, gerr := secrets.EnsureHostKey("/run/homestaker/rescue", "rescue@homestaker")
		if gerr != nil {
			return "rescue SSH: not started, no host key: " + gerr.Error()
		}
		hostKey = filepath.Join("/run/homestaker/rescue", secrets.HostKey)
		b.con.Status(console.Warn, "rescue", "the volume has no SSH host key (%s); this rescue server presents a key for this boot only, %s: expect ssh to warn that the host key changed", filepath.Join(b.cfg.Subvols[0], secrets.HostKey), fp)
	}
	var addrs []netip.Addr
	for _, p := range b.tunnel.Addresses() {
		addrs = append(addrs, p.Addr())
	}
	if b.loggedIn == nil {
		b.loggedIn = make(chan string, 1)
	}
	srv, err := rescue.Start(rescue.Options{
		Addrs:          addrs,
		Port:           b.cfg.RescuePort,
		Device:         b.tunnel.Name(),
		HostKey:        hostKey,
		AuthorizedKeys: []string{filepath.Join(secretsDir, "ssh", "authorized_keys"), builtinAuthorizedKeys},
		Shell:          []string{onfail.ShellPath()},
		SFTPServer:     []string{"/bin/homestaker", sftpServerCommand},
		Env:            onfail.ShellEnv,
		Greeting:       b.rescueGreeting,
		Log: func(format string, args ...any) {
			b.con.Status(console.Info, "rescue", "%s", strings.TrimPrefix(fmt.Sprintf(format, args...), "rescue ssh: "))
		},
		OnLogin: func() {
			select {
			case b.loggedIn <- "an operator logged in over the rescue SSH":
			default:
			}
		},
		Start: early.Start,
		Done:  early.Done,
	})
	if err != nil {
		b.con.Status(console.Warn, "rescue", "rescue SSH not started: %v", err)
		return "rescue SSH: not started: " + err.Error()
	}
	b.rescue = srv
	return b.rescueHint()
}

func (b *boot) rescueHint() string {
	var where []string
	for _, a := range b.rescue.Addrs() {
		where = append(where, a.String())
	}
	return fmt.Sprintf("rescue SSH on %s (host key %s), public-key login with a key from %s/ssh/authorized_keys",
		strings.Join(where, ", "), b.rescue.Fingerprint(), b.cfg.Subvols[0])
}

// rescueGreeting is what a rescue login sees first: the banner of the
// failure and the report's summary.
func (b *boot) rescueGreeting() string {
	var sb strings.Builder
	if f := b.rep.Failed(); f != nil {
		sb.WriteString(console.Banner{Stage: f.Stage, Expected: f.Expected, Found: f.Found, Action: f.Action, Report: report.Path}.String())
		sb.WriteString("\n")
	}
	sb.WriteString("boot report (" + report.Path + "):\n")
	for _, line := range strings.SplitAfter(b.rep.Summary(), "\n") {
		// Stage summaries hold text from the network (DHCP host names).
		sb.WriteString(console.Escape(strings.TrimSuffix(line, "\n")))
		if strings.HasSuffix(line, "\n") {
			sb.WriteString("\n")
		}
	}
	if b.tunnel != nil {
		st, err := b.tunnel.Status()
		sb.WriteString(tunnelState(b.tunnel.Name(), st, err))
	}
	sb.WriteString("fix the cause, then `homestaker retry` runs the boot again from the stage that failed.\n")
	return sb.String()
}
