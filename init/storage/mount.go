package storage

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/homestaker/homestaker-boot/init/report"
)

// TopLevel is where the filesystem's top level (subvolid=5) is mounted
// read-only: the next stage and the boot reports live there.
const TopLevel = "/run/homestaker/volume"

// Options are the storage stage's settings, from the configuration.
type Options struct {
	Label    string
	LabelSet bool // no fallback to FallbackLabel when set
	Mnt      string
	Subvols  []string // the first is the secrets subvolume
	Degraded bool     // homestaker.degraded=ok
	Poll     time.Duration
	// Settle is how long Find keeps looking after the volume is first
	// complete, for a second filesystem with the label; 0 is 1 s.
	Settle time.Duration
	// scanned, when set, is called after each look with whether the
	// volume was complete (a test adds a disk during the settle).
	scanned  func(complete bool)
	SysBlock string // /sys/class/block
	DevDir   string // /dev
}

// Mounted is one mount the stage made.
type Mounted struct {
	Target  string `json:"target"`
	Subvol  string `json:"subvol"`
	Options string `json:"options"`
}

// Volume is what the stage found and mounted.
type Volume struct {
	Label      string    `json:"label"`
	FSID       string    `json:"fsid"`
	Devices    []string  `json:"devices"`
	NumDevices uint64    `json:"num_devices"`
	Degraded   bool      `json:"degraded"`
	Fallback   bool      `json:"fallback_label"`
	Mounts     []Mounted `json:"mounts"`
	WaitedMS   int64     `json:"waited_for_devices_ms"`
}

// defaultSettle is Options.Settle's default: USB and SATA disks probe
// asynchronously, seconds apart at worst; a second later most are there.
const defaultSettle = time.Second

// Find waits, until ctx ends, for the filesystem with the label and all
// its members. NVMe and USB disks probe asynchronously, so a first look
// often misses them.
func Find(ctx context.Context, o Options, rec report.Recorder) (*Filesystem, bool, time.Duration, error) {
	start := time.Now()
	poll := o.Poll
	if poll == 0 {
		poll = 50 * time.Millisecond
	}
	var last []Device
	var lastSeen []string
	warned := map[string]bool{}
	told := false
	settle := o.Settle
	if settle == 0 {
		settle = defaultSettle
	}
	var matched time.Time // when the volume was first seen complete
	for {
		devs, seen, errs := Scan(o.SysBlock, o.DevDir)
		for _, err := range errs {
			if !warned[err.Error()] {
				warned[err.Error()] = true
				rec.Warn("%v", err)
			}
		}
		last, lastSeen = devs, seen
		c := Choose(devs, o.Label, o.LabelSet)
		if c.Err != nil {
			return nil, false, time.Since(start), c.Err
		}
		if o.scanned != nil {
			o.scanned(c.FS != nil && c.FS.Complete())
		}
		if c.FS != nil && c.FS.Complete() {
			// Keep looking a moment: a second filesystem with the
			// label (a USB stick that probes after the NVMe disk, or
			// the other way round) must be refused, not lost to
			// whichever came first.
			if matched.IsZero() {
				matched = time.Now()
			}
			if time.Since(matched) >= settle || ctx.Err() != nil {
				return c.FS, c.Fallback, matched.Sub(start), nil
			}
			select {
			case <-ctx.Done():
			case <-time.After(poll):
			}
			continue
		}
		matched = time.Time{}
		if !told {
			// Once, when the first look finds no complete volume: the
			// operator (and a test hot-adding a disk) sees that the
			// stage waits, and for what.
			told = true
			rec.Printf("%s", waiting(ctx, o, c.FS, seen))
		}
		select {
		case <-ctx.Done():
			if c.FS != nil {
				return c.FS, c.Fallback, time.Since(start), nil // incomplete: the caller decides
			}
			return nil, false, time.Since(start), notFound(o, last, lastSeen)
		case <-time.After(poll):
		}
	}
}

// waiting is the line saying what Find waits for: the filesystem, or the
// members of fs still missing.
func waiting(ctx context.Context, o Options, fs *Filesystem, seen []string) string {
	within := ""
	if d, ok := ctx.Deadline(); ok {
		within = fmt.Sprintf(" up to %s", time.Until(d).Round(time.Second))
	}
	if fs != nil {
		return fmt.Sprintf("waiting%s for the other member devices of Btrfs %q (%d of %d found: %s)", within, fs.Label, len(fs.Members), fs.NumDevices, strings.Join(fs.Paths(), " "))
	}
	devs := "no block devices yet"
	if len(seen) > 0 {
		devs = "block devices: " + strings.Join(seen, " ")
	}
	return fmt.Sprintf("waiting%s for %s (%s)", within, wanted(o), devs)
}

// wanted names the filesystem Find looks for.
func wanted(o Options) string {
	want := fmt.Sprintf("a Btrfs filesystem labelled %q", o.Label)
	if !o.LabelSet {
		want += fmt.Sprintf(" (or %q)", FallbackLabel)
	}
	return want
}

func notFound(o Options, devs []Device, seen []string) error {
	want := wanted(o)
	found := Labels(devs)
	if len(seen) == 0 {
		found = "no block devices at all (is the disk controller's driver in the initramfs?)"
	} else {
		found += "; block devices: " + strings.Join(seen, " ")
	}
	return report.Fail(want, found,
		"check that the disk is attached and was formatted with `homestaker prepare` (mkfs.btrfs -L homestaker); a slow disk may need a longer homestaker.timeout.disk=")
}

// Mount registers the filesystem's members with the kernel and mounts the
// top level read-only and each subvolume. On error it unmounts what it
// mounted.
func Mount(fs *Filesystem, o Options, rec report.Recorder) (v *Volume, err error) {
	v = &Volume{Label: fs.Label, FSID: fs.FSID, Devices: fs.Paths(), NumDevices: fs.NumDevices}
	if !fs.Complete() {
		missing := fmt.Sprintf("%d of %d member devices (%s)", len(fs.Members), fs.NumDevices, strings.Join(fs.Paths(), ", "))
		if !o.Degraded {
			return nil, report.Fail(
				fmt.Sprintf("all %d member devices of Btrfs %q (fsid %s)", fs.NumDevices, fs.Label, fs.FSID),
				missing,
				"reattach the missing disk; to boot from the remaining ones anyway (RAID1 keeps a copy), add homestaker.degraded=ok and replace the disk soon (`btrfs replace`)")
		}
		rec.Warn("mounting %q degraded: %s (homestaker.degraded=ok); replace the missing disk soon", fs.Label, missing)
		v.Degraded = true
	}
	for _, p := range fs.Paths() {
		if err := registerDevice(p); err != nil {
			return nil, fmt.Errorf("registering %s with the kernel's Btrfs: %v", p, err)
		}
	}
	defer func() {
		if err != nil {
			_ = v.Unmount()
			v = nil
		}
	}()

	dev := fs.Members[0].Path
	extra := ""
	if v.Degraded {
		extra = ",degraded"
	}
	if err := v.mount(dev, TopLevel, "", "subvolid=5"+extra, unix.MS_RDONLY|unix.MS_NOATIME|unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC); err != nil {
		return v, err
	}
	for _, name := range o.Subvols {
		if err := checkSubvol(filepath.Join(TopLevel, name)); err != nil {
			return v, report.Fail(
				fmt.Sprintf("subvolume %q on Btrfs %q", name, fs.Label),
				err.Error(),
				fmt.Sprintf("create it: mount the volume and run `btrfs subvolume create MOUNTPOINT/%s` (or `homestaker prepare` on a new disk); homestaker.subvols= lists the subvolumes to mount", name))
		}
	}
	for i, name := range o.Subvols {
		flags := uintptr(unix.MS_NOATIME)
		if i == 0 {
			// The secrets subvolume holds keys, never programs.
			flags |= unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC
		}
		if err := v.mount(dev, filepath.Join(o.Mnt, name), name, "subvol="+name+extra, flags); err != nil {
			return v, err
		}
	}
	return v, nil
}

func (v *Volume) mount(dev, target, subvol, data string, flags uintptr) error {
	if err := os.MkdirAll(target, 0o755); err != nil {
		return fmt.Errorf("mkdir %s: %v", target, err)
	}
	if err := unix.Mount(dev, target, "btrfs", flags, data); err != nil {
		return fmt.Errorf("mount %s (%s) on %s: %v", dev, data, target, err)
	}
	v.Mounts = append(v.Mounts, Mounted{Target: target, Subvol: subvol, Options: describe(data, flags)})
	return nil
}

func describe(data string, flags uintptr) string {
	opts := []string{"rw"}
	if flags&unix.MS_RDONLY != 0 {
		opts[0] = "ro"
	}
	for _, f := range []struct {
		bit  uintptr
		name string
	}{{unix.MS_NOATIME, "noatime"}, {unix.MS_NOSUID, "nosuid"}, {unix.MS_NODEV, "nodev"}, {unix.MS_NOEXEC, "noexec"}} {
		if flags&f.bit != 0 {
			opts = append(opts, f.name)
		}
	}
	return strings.Join(append(opts, data), ",")
}

// WritableTopLevel makes the top level writable for fn (the init writes
// boot reports under /boot there) and read-only again after. Both are bind
// remounts, which change this mount's flag only: a plain MS_REMOUNT with
// MS_RDONLY on one Btrfs mount makes the whole filesystem read-only, the
// data subvolumes included, and a rescue shell after a failed handover
// could then not fix a file on them. The subvolumes' rw mounts keep the
// filesystem itself writable.
func (v *Volume) WritableTopLevel(fn func(dir string) error) error {
	const ro = unix.MS_RDONLY | unix.MS_NOATIME | unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC
	if err := unix.Mount("", TopLevel, "", unix.MS_REMOUNT|unix.MS_BIND|(ro&^unix.MS_RDONLY), ""); err != nil {
		return fmt.Errorf("remounting %s read-write: %v", TopLevel, err)
	}
	err := fn(TopLevel)
	unix.Sync()
	if rerr := unix.Mount("", TopLevel, "", unix.MS_REMOUNT|unix.MS_BIND|ro, ""); rerr != nil && err == nil {
		err = fmt.Errorf("remounting %s read-only: %v", TopLevel, rerr)
	}
	return err
}

// UnmountTopLevel unmounts only the read-only top level, which the next
// stage does not get (switch_root keeps the subvolume mounts). It is
// detached (MNT_DETACH), not unmounted outright: a tree on the volume has
// its initrd open there until switch_root has unpacked it, and a plain
// unmount would be refused as busy. Nothing writes to it any more, and the
// subvolume mounts keep the filesystem itself.
func (v *Volume) UnmountTopLevel() error {
	for i, m := range v.Mounts {
		if m.Target == TopLevel {
			if err := unix.Unmount(TopLevel, unix.MNT_DETACH); err != nil {
				return fmt.Errorf("unmount %s: %v", TopLevel, err)
			}
			v.Mounts = append(v.Mounts[:i], v.Mounts[i+1:]...)
			return nil
		}
	}
	return nil
}

// Unmount unmounts in reverse order (deepest first), for a clean
// handover. A busy mount is retried for a second (a process that just
// exited may still hold it); what stays mounted is returned by name and
// kept in v.Mounts.
func (v *Volume) Unmount() error {
	var errs []error
	var left []Mounted
	for i := len(v.Mounts) - 1; i >= 0; i-- {
		m := v.Mounts[i]
		var err error
		for try := 0; try < 10; try++ {
			if err = unix.Unmount(m.Target, 0); !errors.Is(err, unix.EBUSY) {
				break
			}
			unix.Sync()
			time.Sleep(100 * time.Millisecond)
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("unmount %s: %v", m.Target, err))
			left = append([]Mounted{m}, left...)
		}
	}
	v.Mounts = left
	return errors.Join(errs...)
}

// checkSubvol tells whether dir is a subvolume: its root directory has
// inode 256 (BTRFS_FIRST_FREE_OBJECTID); a plain directory does not.
func checkSubvol(dir string) error {
	var st unix.Stat_t
	if err := unix.Stat(dir, &st); err != nil {
		if errors.Is(err, unix.ENOENT) {
			return fmt.Errorf("no %s on the volume's top level", filepath.Base(dir))
		}
		return err
	}
	if st.Mode&unix.S_IFMT != unix.S_IFDIR || st.Ino != 256 {
		return fmt.Errorf("%s on the volume's top level is a plain directory or file, not a subvolume", filepath.Base(dir))
	}
	return nil
}

// btrfsVolArgs is struct btrfs_ioctl_vol_args.
type btrfsVolArgs struct {
	fd   int64
	name [4088]byte
}

// BTRFS_IOC_SCAN_DEV = _IOW(0x94, 4, struct btrfs_ioctl_vol_args).
const iocScanDev = 0x50009404

// registerDevice tells the kernel that path is a member of a Btrfs
// filesystem; without udev nobody else does, and a multi-device mount
// fails without it.
func registerDevice(path string) error {
	ctl, err := os.OpenFile("/dev/btrfs-control", os.O_RDWR, 0)
	if err != nil {
		return err
	}
	defer ctl.Close()
	var args btrfsVolArgs
	if len(path) >= len(args.name) {
		return fmt.Errorf("device path too long")
	}
	copy(args.name[:], path)
	_, _, errno := unix.Syscall(unix.SYS_IOCTL, ctl.Fd(), iocScanDev, uintptr(unsafe.Pointer(&args)))
	if errno != 0 {
		return errno
	}
	return nil
}
