package snapshot

import (
	"fmt"
	"unsafe"

	"golang.org/x/sys/unix"
)

// The Btrfs ioctls, from linux/btrfs.h (magic 0x94).
const (
	iocSnapDestroy  = 0x5000940f // _IOW(0x94, 15, struct btrfs_ioctl_vol_args)
	iocSnapCreateV2 = 0x50009417 // _IOW(0x94, 23, struct btrfs_ioctl_vol_args_v2)
	iocGetFlags     = 0x80089419 // _IOR(0x94, 25, __u64)
	iocInoLookup    = 0xd0009412 // _IOWR(0x94, 18, struct btrfs_ioctl_ino_lookup_args)
	subvolRdonly    = 1 << 1     // BTRFS_SUBVOL_RDONLY
)

// volArgs is struct btrfs_ioctl_vol_args.
type volArgs struct {
	fd   int64
	name [4088]byte
}

// volArgsV2 is struct btrfs_ioctl_vol_args_v2 (4096 bytes).
type volArgsV2 struct {
	fd      int64
	transid uint64
	flags   uint64
	unused  [4]uint64
	name    [4040]byte
}

func ioctl(fd int, req uintptr, arg unsafe.Pointer) error {
	if _, _, errno := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), req, uintptr(arg)); errno != 0 {
		return errno
	}
	return nil
}

// snapshotInto snapshots the subvolume open as src into the directory
// dst as name, read-only when ro is set.
func snapshotInto(src, dst int, name string, ro bool) error {
	var a volArgsV2
	if len(name) >= len(a.name) {
		return fmt.Errorf("name too long")
	}
	a.fd = int64(src)
	if ro {
		a.flags = subvolRdonly
	}
	copy(a.name[:], name)
	return ioctl(dst, iocSnapCreateV2, unsafe.Pointer(&a))
}

// destroy deletes the subvolume name in the directory dir.
func destroy(dir int, name string) error {
	var a volArgs
	if len(name) >= len(a.name) {
		return fmt.Errorf("name too long")
	}
	copy(a.name[:], name)
	return ioctl(dir, iocSnapDestroy, unsafe.Pointer(&a))
}

// readOnly reports whether the subvolume open as fd is read-only.
func readOnly(fd int) (bool, error) {
	var f uint64
	if err := ioctl(fd, iocGetFlags, unsafe.Pointer(&f)); err != nil {
		return false, err
	}
	return f&subvolRdonly != 0, nil
}

// inoLookupArgs is struct btrfs_ioctl_ino_lookup_args.
type inoLookupArgs struct {
	treeid   uint64
	objectid uint64
	name     [4080]byte
}

// subvolID is the id of the subvolume open as fd (its root's tree).
func subvolID(fd int) (uint64, error) {
	a := inoLookupArgs{objectid: 256} // BTRFS_FIRST_FREE_OBJECTID: the root directory
	if err := ioctl(fd, iocInoLookup, unsafe.Pointer(&a)); err != nil {
		return 0, err
	}
	return a.treeid, nil
}
