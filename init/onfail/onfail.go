// Package onfail is where every failed boot ends: the banner on the
// console, then the operator's chosen action (homestaker.onfail).
package onfail

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"time"

	"golang.org/x/sys/unix"

	"github.com/homestaker/homestaker-boot/init/config"
	"github.com/homestaker/homestaker-boot/init/console"
	"github.com/homestaker/homestaker-boot/init/control"
	"github.com/homestaker/homestaker-boot/init/early"
	"github.com/homestaker/homestaker-boot/init/panics"
	"github.com/homestaker/homestaker-boot/init/report"
)

// Options say what Handle does after the banner.
type Options struct {
	Action config.OnFail
	Report string // where the boot report is
	// Retry delivers `homestaker retry` requests from a rescue shell:
	// Handle returns the first one, for the boot plan to run again.
	Retry <-chan *control.Request
	// Cancel stops a reboot countdown in favour of the shell: an operator
	// logged in over the rescue SSH.
	Cancel <-chan string
	// Rescue says how to reach the rescue SSH server, when it runs.
	Rescue string
	// Terminal is where a key press cancels the reboot countdown; ""
	// is Console.
	Terminal string
	// BeforeReboot runs just before a reboot or power-off, after the
	// banner: the log collector gets what is queued (nil: nothing).
	BeforeReboot func()

	// waitKey is WaitKey when nil; a test makes it panic.
	waitKey func(ctx context.Context, tty string) error
}

// Handle shows the banner for f and carries out the action. PID 1 must not
// exit: after a shell it shows the banner again, and it returns only with
// a retry request.
func Handle(con *console.Console, f *report.Failure, o Options) *control.Request {
	action := o.Action.Action
	for {
		b := console.Banner{Stage: f.Stage, Expected: f.Expected, Found: f.Found, Action: f.Action, Report: o.Report}
		switch action {
		case config.OnFailReboot:
			b.Next = fmt.Sprintf("rebooting in %s (homestaker.onfail=reboot:SECONDS); press any key on the console for a shell instead", o.Action.Delay)
		case config.OnFailPoweroff:
			b.Next = "powering off (homestaker.onfail=poweroff)"
		default:
			b.Next = "starting a shell on the console; `homestaker retry` there runs the boot again from the failed stage, 'exit' shows this again"
		}
		if o.Rescue != "" && action != config.OnFailPoweroff {
			b.Next += "\n" + o.Rescue
		}
		con.Banner(b)
		switch action {
		case config.OnFailReboot:
			r, cancelled := countdown(con, o)
			if r != nil {
				return r
			}
			if cancelled {
				action = config.OnFailShell
				continue
			}
			o.beforeReboot()
			Reboot(con, unix.LINUX_REBOOT_CMD_RESTART)
		case config.OnFailPoweroff:
			o.beforeReboot()
			Reboot(con, unix.LINUX_REBOOT_CMD_POWER_OFF)
		default:
			if r := shellUntilRetry(con, o.Retry); r != nil {
				return r
			}
		}
	}
}

func (o Options) beforeReboot() {
	if o.BeforeReboot != nil {
		o.BeforeReboot()
	}
}

// countdown waits out the reboot delay, saying how long is left. It
// returns a retry request, or cancelled when a key was pressed or an
// operator logged in.
func countdown(con *console.Console, o Options) (*control.Request, bool) {
	ctx, stop := context.WithCancel(context.Background())
	key := make(chan error, 1)
	tty := o.Terminal
	if tty == "" {
		tty = Console
	}
	waitKey := o.waitKey
	if waitKey == nil {
		waitKey = WaitKey
	}
	go func() {
		// A bug in the key reader leaves the countdown without keys, as
		// a console that is no terminal does.
		var err error
		if perr := panics.Run("reading a key on "+tty, con.Printf, func() { err = waitKey(ctx, tty) }); perr != nil {
			err = perr
		}
		key <- err
	}()
	waiting := true
	// The key reader is done with the console (its mode restored) before
	// the shell or the reboot.
	defer func() {
		stop()
		if waiting {
			<-key
		}
	}()
	deadline := time.Now().Add(o.Action.Delay)
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	keys := key
	for {
		left := time.Until(deadline).Round(time.Second)
		if left <= 0 {
			con.Status(console.Info, "onfail", "rebooting now")
			return nil, false
		}
		select {
		case err := <-keys:
			waiting = false
			if err != nil {
				// No terminal to read a key from: the countdown goes on.
				con.Status(console.Warn, "onfail", "%v: a key press cannot cancel the reboot", err)
				keys = nil
				continue
			}
			con.Status(console.Info, "onfail", "reboot cancelled by a key press on the console")
			return nil, true
		case who := <-o.Cancel:
			con.Status(console.Info, "onfail", "reboot cancelled: %s", who)
			return nil, true
		case r := <-o.Retry:
			return r, false
		case <-tick.C:
			if left := time.Until(deadline).Round(time.Second); left > 0 && (left%(10*time.Second) == 0 || left <= 3*time.Second) {
				con.Printf("rebooting in %s; press any key for a shell", left)
			}
		}
	}
}

// shellUntilRetry runs the console shell; it returns nil when the shell
// exits, or the retry request that came first, after ending the shell.
func shellUntilRetry(con *console.Console, retry <-chan *control.Request) *control.Request {
	cmd, done, err := startShell(con)
	if err != nil {
		con.Status(console.Failed, "shell", "%v; trying again in 5 s", err)
		select {
		case r := <-retry:
			return r
		case <-time.After(5 * time.Second):
			return nil
		}
	}
	select {
	case <-done:
		return nil
	case r := <-retry:
		// One shell on the console at a time: a boot that stops again
		// starts a new one.
		_ = unix.Kill(-cmd.Process.Pid, unix.SIGKILL)
		<-done
		con.Status(console.Info, "retry", "the console shell was closed; the boot runs again from the stage that failed")
		return r
	}
}

// Reboot syncs the disks and restarts or powers off. It returns only when
// the kernel refuses, after saying so.
func Reboot(con *console.Console, cmd int) {
	unix.Sync()
	if err := unix.Reboot(cmd); err != nil {
		con.Status(console.Failed, "reboot", "reboot(%#x): %v", cmd, err)
		time.Sleep(5 * time.Second)
	}
}

// Shell runs the rescue shell on the console and returns when it exits.
func Shell(con *console.Console) error {
	_, done, err := startShell(con)
	if err != nil {
		return err
	}
	<-done
	return nil
}

// startShell starts the rescue shell on the console as a session leader
// with the console as its controlling terminal, so that ^C reaches it.
// done is closed when it has exited, or when waiting for it failed.
func startShell(con *console.Console) (*exec.Cmd, <-chan struct{}, error) {
	tty, err := os.OpenFile(Console, os.O_RDWR, 0)
	if err != nil {
		return nil, nil, fmt.Errorf("opening %s for the shell: %v", Console, err)
	}
	sh := ShellPath()
	cmd := exec.Command(sh)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = tty, tty, tty
	cmd.Env = ShellEnv
	cmd.SysProcAttr = &unix.SysProcAttr{Setsid: true, Setctty: true, Ctty: 0}
	if err := early.Start(cmd); err != nil {
		tty.Close()
		return nil, nil, fmt.Errorf("starting %s: %v", sh, err)
	}
	fmt.Fprintf(tty, "homestaker rescue shell; the boot report is at %s\r\n", report.Path)
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = panics.Run("waiting for the console shell", con.Printf, func() {
			defer tty.Close()
			defer early.Done(cmd)
			_ = cmd.Wait()
		})
	}()
	return cmd, done, nil
}

// ShellPath is the rescue shell: u-root's /bin/sh link, or gosh itself.
func ShellPath() string {
	if _, err := os.Stat("/bin/sh"); err == nil {
		return "/bin/sh"
	}
	return "/bbin/gosh"
}

// ShellEnv is the environment of rescue shells, on the console and over
// SSH.
var ShellEnv = []string{"PATH=/bbin:/bin:/ubin:/usr/bin:/sbin", "HOME=/", "TERM=linux"}
