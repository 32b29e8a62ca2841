package storage

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/homestaker/homestaker-boot/init/report"
)

// TopLevel is where the filesystem's top level (Btrfs: subvolid=5) is
// mounted read-only: the next stage and the boot reports live there.
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
	Type       string    `json:"type"` // FSBtrfs, FSExt4 or FSXFS
	Label      string    `json:"label"`
	FSID       string    `json:"fsid"`
	Devices    []string  `json:"devices"`
	NumDevices uint64    `json:"num_devices"`
	Degraded   bool      `json:"degraded"`
	Fallback   bool      `json:"fallback_label"`
	Mounts     []Mounted `json:"mounts"`
	// Names are homestaker.subvols in order, each a subvolume or a
	// directory; Names[0] holds the secrets.
	Names []Name `json:"names"`
	// Whole is where the whole volume is mounted (homestaker.mnt) when
	// any name is a directory; "" when every name is a subvolume
	// mounted on its own.
	Whole    string `json:"whole_mount,omitempty"`
	WaitedMS int64  `json:"waited_for_devices_ms"`
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
	want := fmt.Sprintf("a Btrfs, ext4 or xfs filesystem labelled %q", o.Label)
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
		"check that the disk is attached and was formatted with `homestaker prepare` (mkfs.btrfs -L homestaker, or mkfs.ext4 -L homestaker as HomestakerOS's guide does); a slow disk may need a longer homestaker.timeout.disk=")
}

// Mount mounts the volume and tells what each name of o.Subvols is. On
// Btrfs it registers the members with the kernel, mounts the top level
// read-only at TopLevel and each subvolume with subvol= at o.Mnt/NAME; when
// any name is a plain directory it first mounts the whole volume at o.Mnt
// (as HomestakerOS's own mount unit does), so the directories are there
// and the subvolumes are mounted over their places. ext4 and xfs have
// directories only: the whole volume at o.Mnt, and TopLevel a read-only
// bind of it. A secrets directory's mode is checked by the secrets stage
// (secrets.CheckVolume), as `homestaker check` does. On error it unmounts
// what it mounted.
func Mount(fs *Filesystem, o Options, rec report.Recorder) (v *Volume, err error) {
	v = &Volume{Type: fs.Type, Label: fs.Label, FSID: fs.FSID, Devices: fs.Paths(), NumDevices: fs.NumDevices}
	if fs.Type == FSBtrfs {
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
	} else if d := fs.Members[0]; d.Ext4 != nil && (!d.Ext4.Clean || d.Ext4.NeedsRecovery) {
		// Not an error: the kernel replays the journal at the mount.
		rec.Printf("ext4 %q was not unmounted cleanly (the last shutdown was not clean); the kernel replays its journal now", fs.Label)
	}
	defer func() {
		if err != nil {
			_ = v.Unmount()
			v = nil
		}
	}()
	if fs.Type == FSBtrfs {
		err = v.mountBtrfs(fs, o)
	} else {
		err = v.mountWhole(fs, o)
	}
	return v, err
}

// mountBtrfs mounts a Btrfs volume: see Mount.
func (v *Volume) mountBtrfs(fs *Filesystem, o Options) error {
	dev := fs.Members[0].Path
	extra := ""
	if v.Degraded {
		extra = ",degraded"
	}
	if err := v.mount(dev, TopLevel, FSBtrfs, "", "subvolid=5"+extra, unix.MS_RDONLY|unix.MS_NOATIME|unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC); err != nil {
		return err
	}
	ns, bad := names(TopLevel, o.Mnt, o.Subvols)
	if len(bad) > 0 {
		return report.Fail(
			fmt.Sprintf("subvolumes or directories %s on Btrfs %q", strings.Join(o.Subvols, ", "), fs.Label),
			strings.Join(bad, "; "),
			"create them: mount the volume and run `btrfs subvolume create MOUNTPOINT/NAME` or `mkdir MOUNTPOINT/NAME` (or `homestaker prepare` on a new disk); homestaker.subvols= lists the names")
	}
	v.Names = ns
	if DescribeLayout(ns) != "subvolumes" {
		// The top level, not the default subvolume: the names live there.
		if err := v.mount(dev, o.Mnt, FSBtrfs, "", "subvolid=5"+extra, unix.MS_NOATIME); err != nil {
			return err
		}
		v.Whole = o.Mnt
	}
	for i, n := range ns {
		if n.Kind != KindSubvolume {
			continue
		}
		flags := uintptr(unix.MS_NOATIME)
		if i == 0 {
			// The secrets subvolume holds keys, never programs.
			flags |= unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC
		}
		if err := v.mount(dev, n.Path, FSBtrfs, n.Name, "subvol="+n.Name+extra, flags); err != nil {
			return err
		}
	}
	return nil
}

// mountWhole mounts an ext4 or xfs volume at o.Mnt, read-write with
// noatime as HomestakerOS's mount unit does, and binds it read-only at
// TopLevel: a second mount of the device itself with other read-only
// flags is refused by the kernel (one superblock), a bind is not.
func (v *Volume) mountWhole(fs *Filesystem, o Options) error {
	dev := fs.Members[0].Path
	if err := v.mount(dev, o.Mnt, fs.Type, "", "", unix.MS_NOATIME); err != nil {
		return err
	}
	v.Whole = o.Mnt
	if err := os.MkdirAll(TopLevel, 0o755); err != nil {
		return fmt.Errorf("mkdir %s: %v", TopLevel, err)
	}
	const ro = unix.MS_RDONLY | unix.MS_NOATIME | unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC
	if err := unix.Mount(o.Mnt, TopLevel, "", unix.MS_BIND, ""); err != nil {
		return fmt.Errorf("bind mount %s on %s: %v", o.Mnt, TopLevel, err)
	}
	v.Mounts = append(v.Mounts, Mounted{Target: TopLevel, Options: "ro,bind of " + o.Mnt})
	if err := unix.Mount("", TopLevel, "", unix.MS_REMOUNT|unix.MS_BIND|ro, ""); err != nil {
		return fmt.Errorf("remounting %s read-only: %v", TopLevel, err)
	}
	ns, bad := names(o.Mnt, o.Mnt, o.Subvols)
	if len(bad) > 0 {
		return report.Fail(
			fmt.Sprintf("directories %s on %s %q", strings.Join(o.Subvols, ", "), fs.Type, fs.Label),
			strings.Join(bad, "; "),
			fmt.Sprintf("create them: `mkdir -p %s/{%s}` (the volume is mounted there in the rescue shell), or `homestaker prepare --fs %s` on a new disk; homestaker.subvols= lists the names", o.Mnt, strings.Join(o.Subvols, ","), fs.Type))
	}
	v.Names = ns
	return nil
}

func (v *Volume) mount(dev, target, fstype, subvol, data string, flags uintptr) error {
	if err := os.MkdirAll(target, 0o755); err != nil {
		return fmt.Errorf("mkdir %s: %v", target, err)
	}
	if err := unix.Mount(dev, target, fstype, flags, data); err != nil {
		return fmt.Errorf("mount %s (%s %s) on %s: %v", dev, fstype, data, target, err)
	}
	v.Mounts = append(v.Mounts, Mounted{Target: target, Subvol: subvol, Options: describe(data, flags)})
	return nil
}

// Kind tells what name (of homestaker.subvols) is on the mounted volume;
// false when it is not one of the names.
func (v *Volume) Kind(name string) (Kind, bool) {
	for _, n := range v.Names {
		if n.Name == name {
			return n.Kind, true
		}
	}
	return "", false
}

// Layout says what the names are: "subvolumes", "directories", or for a
// mix "subvolume erigon, directories secrets lighthouse".
func (v *Volume) Layout() string { return DescribeLayout(v.Names) }

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

// WithoutSubvolumes unmounts the subvolumes names for fn (a rollback
// exchanges them: a mount keeps the subvolume it mounted, whatever its
// name becomes) and mounts them again after, by name, with the options
// they had.
func (v *Volume) WithoutSubvolumes(names []string, fn func() error) error {
	var dev string
	if len(v.Devices) > 0 {
		dev = v.Devices[0]
	}
	extra := ""
	if v.Degraded {
		extra = ",degraded"
	}
	var off []int
	for i, n := range v.Names {
		if n.Kind != KindSubvolume || !slices.Contains(names, n.Name) {
			continue
		}
		if err := unix.Unmount(n.Path, 0); err != nil {
			v.remount(dev, extra, off)
			return fmt.Errorf("unmount %s: %v", n.Path, err)
		}
		off = append(off, i)
	}
	err := fn()
	if rerr := v.remount(dev, extra, off); rerr != nil && err == nil {
		err = rerr
	}
	return err
}

// remount mounts the names at the indexes off again (see
// WithoutSubvolumes): the first is the secrets subvolume, mounted
// nosuid,nodev,noexec.
func (v *Volume) remount(dev, extra string, off []int) error {
	var errs []error
	for _, i := range off {
		n := v.Names[i]
		flags := uintptr(unix.MS_NOATIME)
		if i == 0 {
			flags |= unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC
		}
		if err := unix.Mount(dev, n.Path, FSBtrfs, flags, "subvol="+n.Name+extra); err != nil {
			errs = append(errs, fmt.Errorf("mount %s (subvol=%s) on %s again: %v", dev, n.Name, n.Path, err))
		}
	}
	return errors.Join(errs...)
}
