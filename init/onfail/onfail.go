// Package onfail is where every failed boot ends: the banner on the
// console, then the operator's chosen action (homestaker.onfail).
package onfail

import (
	"fmt"
	"os"
	"os/exec"
	"time"

	"golang.org/x/sys/unix"

	"github.com/homestaker/homestaker-boot/init/config"
	"github.com/homestaker/homestaker-boot/init/console"
	"github.com/homestaker/homestaker-boot/init/early"
	"github.com/homestaker/homestaker-boot/init/report"
)

// Handle shows the banner for f and carries out action. It never returns:
// PID 1 must not exit, so after a shell it shows the banner again.
func Handle(con *console.Console, f *report.Failure, action config.OnFail, reportPath string) {
	for {
		b := console.Banner{Stage: f.Stage, Expected: f.Expected, Found: f.Found, Action: f.Action, Report: reportPath}
		switch action.Action {
		case config.OnFailReboot:
			b.Next = fmt.Sprintf("rebooting in %s (homestaker.onfail=reboot:SECONDS)", action.Delay)
		case config.OnFailPoweroff:
			b.Next = "powering off (homestaker.onfail=poweroff)"
		default:
			b.Next = "starting a shell on the console; leave it with 'exit' to see this again"
		}
		con.Banner(b)
		switch action.Action {
		case config.OnFailReboot:
			time.Sleep(action.Delay)
			Reboot(con, unix.LINUX_REBOOT_CMD_RESTART)
		case config.OnFailPoweroff:
			Reboot(con, unix.LINUX_REBOOT_CMD_POWER_OFF)
		default:
			if err := Shell(); err != nil {
				con.Status(console.Failed, "shell", "%v; trying again in 5 s", err)
				time.Sleep(5 * time.Second)
			}
		}
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

// Shell runs the rescue shell on the console as a session leader with the
// console as its controlling terminal, so that ^C reaches it, and returns
// when it exits.
func Shell() error {
	tty, err := os.OpenFile("/dev/console", os.O_RDWR, 0)
	if err != nil {
		return fmt.Errorf("opening /dev/console for the shell: %v", err)
	}
	defer tty.Close()
	sh := "/bin/sh"
	if _, err := os.Stat(sh); err != nil {
		sh = "/bbin/gosh"
	}
	cmd := exec.Command(sh)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = tty, tty, tty
	cmd.Env = []string{"PATH=/bbin:/bin:/ubin:/usr/bin:/sbin", "HOME=/", "TERM=linux"}
	cmd.SysProcAttr = &unix.SysProcAttr{Setsid: true, Setctty: true, Ctty: 0}
	if err := early.Start(cmd); err != nil {
		return fmt.Errorf("starting %s: %v", sh, err)
	}
	defer early.Done(cmd)
	fmt.Fprintf(tty, "homestaker rescue shell; the boot report is at %s\r\n", report.Path)
	_ = cmd.Wait()
	return nil
}
