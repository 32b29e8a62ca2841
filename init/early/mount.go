// Package early prepares the bare initramfs for the boot: the kernel's
// pseudo file systems, and a reaper for orphaned processes, since PID 1
// inherits every orphan.
package early

import (
	"errors"
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

type mount struct {
	source, target, fstype string
	flags                  uintptr
	data                   string
	mode                   os.FileMode
}

var mounts = []mount{
	{"proc", "/proc", "proc", unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC, "", 0o555},
	{"sysfs", "/sys", "sysfs", unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC, "", 0o555},
	{"devtmpfs", "/dev", "devtmpfs", unix.MS_NOSUID, "mode=0755", 0o755},
	{"devpts", "/dev/pts", "devpts", unix.MS_NOSUID | unix.MS_NOEXEC, "gid=5,mode=620,ptmxmode=666", 0o755},
	{"tmpfs", "/run", "tmpfs", unix.MS_NOSUID | unix.MS_NODEV, "mode=0755", 0o755},
	{"tmpfs", "/tmp", "tmpfs", unix.MS_NOSUID | unix.MS_NODEV, "mode=1777", 0o1777},
}

// Mount mounts /proc, /sys, /dev, /dev/pts, /run and /tmp. It goes on past
// a failure so that as much as possible works for the rescue shell, and
// returns every failure.
func Mount() error {
	var errs []error
	for _, m := range mounts {
		if err := os.MkdirAll(m.target, m.mode); err != nil {
			errs = append(errs, fmt.Errorf("mkdir %s: %v", m.target, err))
			continue
		}
		err := unix.Mount(m.source, m.target, m.fstype, m.flags, m.data)
		if errors.Is(err, unix.EBUSY) {
			// Already mounted: the kernel mounts devtmpfs itself with
			// CONFIG_DEVTMPFS_MOUNT, and a chainloading kernel may too.
			continue
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("%s on %s: %v", m.fstype, m.target, err))
		}
	}
	// Where /dev is not devtmpfs, the console device may be missing.
	if _, err := os.Stat("/dev/console"); err != nil {
		_ = unix.Mknod("/dev/console", unix.S_IFCHR|0o600, int(unix.Mkdev(5, 1)))
	}
	for _, l := range [][2]string{{"/proc/self/fd", "/dev/fd"}, {"/proc/self/fd/0", "/dev/stdin"}, {"/proc/self/fd/1", "/dev/stdout"}, {"/proc/self/fd/2", "/dev/stderr"}} {
		_ = os.Symlink(l[0], l[1])
	}
	return errors.Join(errs...)
}
