// Command stage2 stands in for HomestakerOS in the VM tests: as the init of
// the kexec'd kernel it prints a marker, its command line and what it
// received, then powers the VM off.
package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"
)

func main() {
	_ = unix.Mount("proc", "/proc", "proc", 0, "")
	cmdline, _ := os.ReadFile("/proc/cmdline")
	uptime, _ := os.ReadFile("/proc/uptime")
	fmt.Printf("HOMESTAKER-STAGE2 up at %s\n", strings.Fields(string(uptime) + " ?")[0])
	fmt.Printf("HOMESTAKER-STAGE2 cmdline: %s\n", strings.TrimSpace(string(cmdline)))
	// What the initrd brought: every file but our own init.
	_ = filepath.Walk("/received", func(p string, fi os.FileInfo, err error) error {
		if err == nil && fi.Mode().IsRegular() {
			fmt.Printf("HOMESTAKER-STAGE2 received: %s (%d bytes)\n", p, fi.Size())
		}
		return nil
	})
	fmt.Println("HOMESTAKER-STAGE2 powering off")
	unix.Sync()
	_ = unix.Reboot(unix.LINUX_REBOOT_CMD_POWER_OFF)
	select {}
}
