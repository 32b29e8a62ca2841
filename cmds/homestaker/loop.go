package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// loopDevice is an image file attached to a loop device (loop(4)), so that
// the kernel can mount the Btrfs in it. The device is set to clear itself
// when its last user goes away, so a crash of this program never leaves it
// attached once unmounted.
type loopDevice struct {
	Path string // /dev/loopN
	f    *os.File
}

// attachLoop attaches image to a free loop device. Another process may
// take the device LOOP_CTL_GET_FREE named before we configure it (EBUSY):
// then ask again.
func attachLoop(image string) (*loopDevice, error) {
	return attachLoopWith(image, unix.IoctlLoopConfigure)
}

// attachLoopWith is attachLoop with configure in LOOP_CONFIGURE's place:
// a test passes one that fails as a kernel before 5.8 does.
func attachLoopWith(image string, configure func(fd int, c *unix.LoopConfig) error) (*loopDevice, error) {
	backing, err := os.OpenFile(image, os.O_RDWR, 0)
	if err != nil {
		return nil, err
	}
	// The kernel holds its own reference once attached.
	defer backing.Close()
	ctl, err := os.OpenFile("/dev/loop-control", os.O_RDWR, 0)
	if err != nil {
		return nil, fmt.Errorf("attaching %s to a loop device: %v (is the loop module loaded?)", image, err)
	}
	defer ctl.Close()
	var lastErr error
	for range 10 {
		n, err := unix.IoctlRetInt(int(ctl.Fd()), unix.LOOP_CTL_GET_FREE)
		if err != nil {
			return nil, fmt.Errorf("attaching %s: LOOP_CTL_GET_FREE: %v", image, err)
		}
		path := fmt.Sprintf("/dev/loop%d", n)
		f, err := openLoop(path, n)
		if err != nil {
			return nil, fmt.Errorf("attaching %s: %v", image, err)
		}
		err = configureLoop(f, backing, image, configure)
		if err == nil {
			return &loopDevice{Path: path, f: f}, nil
		}
		f.Close()
		if !errors.Is(err, unix.EBUSY) {
			return nil, fmt.Errorf("attaching %s to %s: %v", image, path, err)
		}
		lastErr = err
	}
	return nil, fmt.Errorf("attaching %s: every free loop device was taken before it could be configured: %v", image, lastErr)
}

// openLoop opens /dev/loopN, creating the node when /dev is not devtmpfs.
func openLoop(path string, n int) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if errors.Is(err, os.ErrNotExist) {
		if err := unix.Mknod(path, unix.S_IFBLK|0o660, int(unix.Mkdev(7, uint32(n)))); err != nil && !errors.Is(err, os.ErrExist) {
			return nil, fmt.Errorf("mknod %s: %v", path, err)
		}
		f, err = os.OpenFile(path, os.O_RDWR, 0)
	}
	return f, err
}

// configureLoop uses LOOP_CONFIGURE (Linux 5.8, through configure), which
// sets file and flags in one step, and falls back to LOOP_SET_FD and
// LOOP_SET_STATUS64 on older kernels.
func configureLoop(loop, backing *os.File, name string, configure func(fd int, c *unix.LoopConfig) error) error {
	info := unix.LoopInfo64{Flags: unix.LO_FLAGS_AUTOCLEAR}
	if abs, err := filepath.Abs(name); err == nil {
		name = abs
	}
	copy(info.File_name[:len(info.File_name)-1], name)
	cfg := unix.LoopConfig{Fd: uint32(backing.Fd()), Info: info}
	err := configure(int(loop.Fd()), &cfg)
	if !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.ENOTTY) {
		return err
	}
	if err := unix.IoctlSetInt(int(loop.Fd()), unix.LOOP_SET_FD, int(backing.Fd())); err != nil {
		return err
	}
	if err := unix.IoctlLoopSetStatus64(int(loop.Fd()), &info); err != nil {
		unix.IoctlSetInt(int(loop.Fd()), unix.LOOP_CLR_FD, 0)
		return fmt.Errorf("LOOP_SET_STATUS64: %v", err)
	}
	return nil
}

// Detach detaches the loop device. Call it after unmounting; while the
// device is still in use the kernel only marks it for autoclear. ENXIO
// means it is detached already.
func (l *loopDevice) Detach() error {
	err := unix.IoctlSetInt(int(l.f.Fd()), unix.LOOP_CLR_FD, 0)
	cerr := l.f.Close()
	if err != nil && !errors.Is(err, unix.ENXIO) {
		return fmt.Errorf("detaching %s: %v", l.Path, err)
	}
	return cerr
}
