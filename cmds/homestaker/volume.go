package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// topLevel is the top level of the volume mounted at a temporary
// directory, where every name is: the Btrfs top level (subvolid=5), the
// whole ext4 or xfs. For an image file the loop device behind it is kept.
type topLevel struct {
	Dir  string
	Dev  string // what was mounted: the block device or /dev/loopN
	FS   *filesystem
	loop *loopDevice
}

// mountTopLevel mounts the top level of the filesystem f on device,
// attaching an image file to a loop device first. On error nothing stays
// mounted or attached.
func mountTopLevel(device string, image bool, f *filesystem) (t *topLevel, err error) {
	t = &topLevel{Dev: device, FS: f}
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
	if err := unix.Mount(t.Dev, t.Dir, f.name, unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, f.topLevel); err != nil {
		os.Remove(t.Dir)
		return nil, fmt.Errorf("mount -t %s %s on %s: %v", f.name, t.Dev, t.Dir, err)
	}
	return t, nil
}

// String says what was mounted, for prepare's output.
func (t *topLevel) String() string {
	if t.FS.topLevel != "" {
		return fmt.Sprintf("the top level (%s) of %s", t.FS.topLevel, t.Dev)
	}
	return fmt.Sprintf("the %s on %s", t.FS.name, t.Dev)
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
