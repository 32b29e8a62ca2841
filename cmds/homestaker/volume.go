package main

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// mkfsBtrfs formats device (a block device or an image file) with
// btrfs-progs. Its chatter is shown only when it fails.
func mkfsBtrfs(device, label string, force bool) error {
	bin, err := exec.LookPath("mkfs.btrfs")
	if err != nil {
		return errors.New("mkfs.btrfs not found in PATH: install btrfs-progs")
	}
	args := []string{"-L", label}
	if force {
		args = append(args, "-f")
	}
	args = append(args, device)
	out, err := exec.Command(bin, args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("mkfs.btrfs %s: %v\n%s", strings.Join(args, " "), err, bytes.TrimSpace(out))
	}
	return nil
}

// topLevel is the Btrfs top level (subvolid=5) mounted at a temporary
// directory, with the loop device behind it for an image file.
type topLevel struct {
	Dir  string
	Dev  string // what was mounted: the block device or /dev/loopN
	loop *loopDevice
}

// mountTopLevel mounts the top level of the Btrfs on device, attaching an
// image file to a loop device first. On error nothing stays mounted or
// attached.
func mountTopLevel(device string, image bool) (t *topLevel, err error) {
	t = &topLevel{Dev: device}
	if image {
		if t.loop, err = attachLoop(device); err != nil {
			return nil, err
		}
		t.Dev = t.loop.Path
	}
	defer func() {
		if err != nil && t.loop != nil {
			t.loop.Detach()
		}
	}()
	if t.Dir, err = os.MkdirTemp("", "homestaker-prepare-"); err != nil {
		return nil, err
	}
	if err := unix.Mount(t.Dev, t.Dir, "btrfs", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, "subvolid=5"); err != nil {
		os.Remove(t.Dir)
		return nil, fmt.Errorf("mount %s (subvolid=5) on %s: %v", t.Dev, t.Dir, err)
	}
	return t, nil
}

// Close flushes the filesystem, unmounts it, detaches the loop device and
// removes the directory, going on past failures so that as little as
// possible stays behind.
func (t *topLevel) Close() error {
	var errs []error
	if d, err := os.Open(t.Dir); err == nil {
		if err := unix.Syncfs(int(d.Fd())); err != nil {
			errs = append(errs, fmt.Errorf("syncfs %s: %v", t.Dir, err))
		}
		d.Close()
	}
	if err := unix.Unmount(t.Dir, 0); err != nil {
		errs = append(errs, fmt.Errorf("unmount %s: %v", t.Dir, err))
	} else if err := os.Remove(t.Dir); err != nil {
		errs = append(errs, err)
	}
	if t.loop != nil {
		if err := t.loop.Detach(); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// btrfsIocSubvolCreate is BTRFS_IOC_SUBVOL_CREATE,
// _IOW(0x94, 14, struct btrfs_ioctl_vol_args) (linux/btrfs.h).
const btrfsIocSubvolCreate = 0x5000940e

// btrfsVolArgs is struct btrfs_ioctl_vol_args: 4096 bytes.
type btrfsVolArgs struct {
	Fd   int64
	Name [4088]byte
}

// firstFreeObjectID is the inode number of every subvolume's root
// directory (BTRFS_FIRST_FREE_OBJECTID); a plain directory has another.
const firstFreeObjectID = 256

// ensureSubvolume creates the subvolume name in the top level dir unless
// it exists. It refuses a plain directory or a file of that name: the init
// mounts subvol=NAME and would not find it.
func ensureSubvolume(dir, name string) (created bool, err error) {
	p := filepath.Join(dir, name)
	st, err := os.Lstat(p)
	switch {
	case err == nil && st.IsDir() && st.Sys().(*syscall.Stat_t).Ino == firstFreeObjectID:
		return false, nil
	case err == nil && st.IsDir():
		return false, fmt.Errorf("the top level holds a plain directory %q, not a subvolume; the init mounts subvol=%s and would not find it: "+
			"move its contents into a subvolume (`btrfs subvolume create`), remove it, and run prepare again", name, name)
	case err == nil:
		return false, fmt.Errorf("the top level holds a %s named %q where the subvolume belongs: move it away and run prepare again", st.Mode().Type(), name)
	case !errors.Is(err, fs.ErrNotExist):
		return false, err
	}
	var args btrfsVolArgs
	copy(args.Name[:len(args.Name)-1], name)
	d, err := os.Open(dir)
	if err != nil {
		return false, err
	}
	defer d.Close()
	if _, _, errno := unix.Syscall(unix.SYS_IOCTL, d.Fd(), btrfsIocSubvolCreate, uintptr(unsafe.Pointer(&args))); errno != 0 {
		return false, fmt.Errorf("creating subvolume %s: BTRFS_IOC_SUBVOL_CREATE: %v", name, errno)
	}
	return true, nil
}
