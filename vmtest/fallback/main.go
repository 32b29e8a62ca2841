// Command fallback stands in, in the VM tests, for the fallback Linux an
// operator starts from: as its init it mounts the kernel filesystems,
// configures its network statically when /boot/network is there, then
// runs `homestaker chainload` on the bootstrap files under /boot, with the
// flags in /boot/chainload-flags (if any) and the parameters in
// /boot/append. When chainload returns, it says how it ended and whether a
// kernel is loaded, then powers off.
package main

import (
	"fmt"
	"os"
	"os/exec"
	"strings"

	"golang.org/x/sys/unix"
)

func main() {
	fmt.Println("FALLBACK-LINUX up")
	for _, m := range []struct{ fstype, dir string }{
		{"proc", "/proc"},
		{"sysfs", "/sys"},
		{"devtmpfs", "/dev"},
	} {
		if err := os.MkdirAll(m.dir, 0o755); err != nil {
			fail(err)
		}
		if err := unix.Mount(m.fstype, m.dir, m.fstype, 0, ""); err != nil && err != unix.EBUSY {
			fail(fmt.Errorf("mounting %s on %s: %v", m.fstype, m.dir, err))
		}
	}
	if b, err := os.ReadFile("/boot/network"); err == nil {
		n, err := parseNetwork(b)
		if err != nil {
			fail(err)
		}
		if err := setUpNetwork(n); err != nil {
			fail(fmt.Errorf("network: %v", err))
		}
		fmt.Printf("FALLBACK-LINUX network: %s %v via %v, nameservers %v, hostname %q\n", n.Link, n.Addrs, n.Gateways, n.Nameservers, n.Hostname)
	} else if !os.IsNotExist(err) {
		fail(err)
	}
	flags, err := os.ReadFile("/boot/chainload-flags")
	if err != nil && !os.IsNotExist(err) {
		fail(err)
	}
	appendArgs, err := os.ReadFile("/boot/append")
	if err != nil {
		fail(err)
	}
	args := append(append([]string{"chainload"}, strings.Fields(string(flags))...),
		"--append", strings.TrimSpace(string(appendArgs)), "/boot/vmlinuz", "/boot/initramfs.cpio.zst")
	fmt.Printf("FALLBACK-LINUX running: /homestaker %s\n", strings.Join(args, " "))
	cmd := exec.Command("/homestaker", args...)
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	err = cmd.Run()
	// Only a refusal or a failure comes back here.
	loaded, _ := os.ReadFile("/sys/kernel/kexec_loaded")
	fmt.Printf("FALLBACK-LINUX kexec_loaded=%s\n", strings.TrimSpace(string(loaded)))
	if err == nil {
		err = fmt.Errorf("homestaker chainload returned without handing over")
	}
	fail(fmt.Errorf("chainload: %v", err))
}

func fail(err error) {
	fmt.Printf("FALLBACK-LINUX failed: %v\n", err)
	fmt.Println("FALLBACK-LINUX powering off")
	unix.Sync()
	_ = unix.Reboot(unix.LINUX_REBOOT_CMD_POWER_OFF)
	select {}
}
