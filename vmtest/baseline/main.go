// Command baseline is the benchmark's reference init: it kexecs the same
// stage 2 as the real chain at once, with no stages, so that the chain's
// time can be reported as a ratio to the least any init could take.
package main

import (
	"fmt"
	"os"
	"time"

	"golang.org/x/sys/unix"
)

func main() {
	_ = unix.Mount("proc", "/proc", "proc", 0, "")
	fmt.Println("BASELINE init started")
	start := time.Now()
	cmdline, err := os.ReadFile("/next/cmdline")
	if err != nil {
		fail(err)
	}
	k, err := os.Open("/next/bzImage")
	if err != nil {
		fail(err)
	}
	i, err := os.Open("/next/initrd.zst")
	if err != nil {
		fail(err)
	}
	if err := unix.KexecFileLoad(int(k.Fd()), int(i.Fd()), string(cmdline), 0); err != nil {
		fail(err)
	}
	fmt.Printf("BASELINE handover after %s\n", time.Since(start))
	_ = unix.Reboot(unix.LINUX_REBOOT_CMD_KEXEC)
	fail(fmt.Errorf("reboot(KEXEC) returned"))
}

func fail(err error) {
	fmt.Printf("BASELINE failed: %v\n", err)
	_ = unix.Reboot(unix.LINUX_REBOOT_CMD_POWER_OFF)
	select {}
}
