// Command stage2 stands in for HomestakerOS in the VM tests: as the init of
// the kexec'd kernel it prints a marker, its command line and what it
// received; when its command line names a boot report on the volume, it
// mounts the volume (with the modules its initrd carries) and shows that
// the report is there and the volume was left clean; then (after
// stage2.linger= seconds) it powers off.
package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/homestaker/homestaker-boot/init/btrfs"
	"github.com/homestaker/homestaker-boot/init/kmod"
)

func main() {
	_ = unix.Mount("proc", "/proc", "proc", 0, "")
	cmdline, _ := os.ReadFile("/proc/cmdline")
	uptime, _ := os.ReadFile("/proc/uptime")
	fmt.Printf("HOMESTAKER-STAGE2 up at %s as pid %d\n", strings.Fields(string(uptime) + " ?")[0], os.Getpid())
	fmt.Printf("HOMESTAKER-STAGE2 cmdline: %s\n", strings.TrimSpace(string(cmdline)))
	// What the initrd brought.
	_ = filepath.Walk("/received", func(p string, fi os.FileInfo, err error) error {
		if err == nil && fi.Mode().IsRegular() {
			fmt.Printf("HOMESTAKER-STAGE2 received: %s (%d bytes)\n", p, fi.Size())
		}
		return nil
	})
	// After a switch_root the bootstrap's mounts are here.
	if b, err := os.ReadFile("/proc/self/mounts"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if f := strings.Fields(l); len(f) > 2 && strings.HasPrefix(f[1], "/mnt/") {
				fmt.Printf("HOMESTAKER-STAGE2 mount: %s %s\n", f[1], f[2])
			}
		}
	}
	for _, w := range strings.Fields(string(cmdline)) {
		if path, ok := strings.CutPrefix(w, "homestaker.report="); ok {
			checkVolume(path)
		}
	}
	// stage2.linger=SECONDS stays up that long, as a system that does not
	// run a watchdog daemon would.
	for _, w := range strings.Fields(string(cmdline)) {
		if v, ok := strings.CutPrefix(w, "stage2.linger="); ok {
			d, _ := time.ParseDuration(v + "s")
			fmt.Printf("HOMESTAKER-STAGE2 lingering %s\n", d)
			time.Sleep(d)
		}
	}
	fmt.Println("HOMESTAKER-STAGE2 powering off")
	unix.Sync()
	_ = unix.Reboot(unix.LINUX_REBOOT_CMD_POWER_OFF)
	select {}
}

// checkVolume mounts the volume and prints the report's first bytes,
// whether the SSH host key the bootstrap wrote is there, and whether the
// kernel had to replay a log (it must not: the bootstrap unmounted it).
func checkVolume(report string) {
	var u unix.Utsname
	_ = unix.Uname(&u)
	dir := "/lib/modules/" + unix.ByteSliceToString(u.Release[:])
	if _, err := os.Stat(dir); err == nil {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		_, _ = kmod.Load(ctx, dir, func(string, ...any) {})
		cancel()
	}
	_ = os.MkdirAll("/dev", 0o755)
	_ = unix.Mount("devtmpfs", "/dev", "devtmpfs", 0, "")
	// The volume is the disk with a Btrfs superblock (a USB stick may be
	// /dev/vda).
	dev := ""
	for i := 0; i < 100 && dev == ""; i++ {
		disks, _ := filepath.Glob("/dev/vd?")
		for _, d := range disks {
			if f, err := os.Open(d); err == nil {
				if _, err := btrfs.ReadSuperblock(f); err == nil {
					dev = d
				}
				f.Close()
			}
		}
		if dev == "" {
			time.Sleep(50 * time.Millisecond)
		}
	}
	_ = os.MkdirAll("/vol", 0o755)
	err := fmt.Errorf("no disk with a Btrfs filesystem")
	if dev != "" {
		err = unix.Mount(dev, "/vol", "btrfs", 0, "subvolid=5")
	}
	if err != nil {
		fmt.Printf("HOMESTAKER-STAGE2 volume: cannot mount %s: %v\n", dev, err)
		return
	}
	defer unix.Unmount("/vol", 0)
	if b, err := os.ReadFile(filepath.Join("/vol", report)); err == nil {
		fmt.Printf("HOMESTAKER-STAGE2 report %s: %d bytes, result %s\n", report, len(b), field(string(b), `"result": "`))
	} else {
		fmt.Printf("HOMESTAKER-STAGE2 report %s: %v\n", report, err)
	}
	if _, err := os.Stat("/vol/secrets/ssh/id_ed25519.pub"); err == nil {
		fmt.Println("HOMESTAKER-STAGE2 volume: ssh host key present")
	}
	buf := make([]byte, 1<<20)
	n, _ := unix.Klogctl(unix.SYSLOG_ACTION_READ_ALL, buf)
	if strings.Contains(string(buf[:n]), "log replay") {
		fmt.Println("HOMESTAKER-STAGE2 volume: log replay needed")
	} else {
		fmt.Println("HOMESTAKER-STAGE2 volume: clean, no log replay")
	}
}

func field(s, prefix string) string {
	_, rest, ok := strings.Cut(s, prefix)
	if !ok {
		return "?"
	}
	v, _, _ := strings.Cut(rest, `"`)
	return v
}
