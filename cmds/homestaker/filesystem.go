package main

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"

	"github.com/homestaker/homestaker-boot/init/btrfs"
	"github.com/homestaker/homestaker-boot/init/ext4"
	"github.com/homestaker/homestaker-boot/init/storage"
	"github.com/homestaker/homestaker-boot/init/xfs"
)

// The filesystems prepare makes the volume with, the init's three
// (storage.FSBtrfs, FSExt4, FSXFS). Btrfs is the default and the
// recommendation: its names are subvolumes, each mounted on its own, and
// it alone can snapshot the client data before an update. ext4 and xfs are
// what HomestakerOS's guide also offers: the names are plain directories,
// and the init mounts the whole volume once at homestaker.mnt.

// filesystem is what prepare does differently for one type.
type filesystem struct {
	name     string   // as --fs, mount(2) and the storage stage name it
	kinds    []string // what the signature probe and blkid call it
	mkfs     string   // the tool that formats it, run as mkfs -L LABEL [force] DEVICE
	force    string   // the tool's flag to format over an existing signature
	pkg      string   // the package that has the tool, in Debian and Fedora
	maxLabel int      // the longest label in bytes (from the superblock reader)
	// subvolumes: the names are Btrfs subvolumes; else plain directories.
	subvolumes bool
	// topLevel is the mount's data that shows every name: the Btrfs top
	// level, whatever the default subvolume.
	topLevel string
	// readLabel reads the label (and an identity to print) with the
	// superblock reader the storage stage uses, to verify mkfs's work.
	readLabel func(device string) (label, id string, err error)
}

var (
	btrfsFS = &filesystem{
		name: storage.FSBtrfs, kinds: []string{"btrfs"}, mkfs: "mkfs.btrfs", force: "-f", pkg: "btrfs-progs",
		maxLabel: btrfs.MaxLabel, subvolumes: true, topLevel: "subvolid=5",
		readLabel: func(device string) (string, string, error) {
			sb, err := btrfs.ReadDevice(device)
			if err != nil {
				return "", "", err
			}
			return sb.Label, "fsid " + sb.FSIDString(), nil
		},
	}
	// The ext4 driver mounts ext2 and ext3 too, as the init does.
	ext4FS = &filesystem{
		name: storage.FSExt4, kinds: []string{"ext4", "ext3", "ext2"}, mkfs: "mkfs.ext4", force: "-F", pkg: "e2fsprogs",
		maxLabel: ext4.MaxLabel,
		readLabel: func(device string) (string, string, error) {
			sb, err := ext4.ReadDevice(device)
			if err != nil {
				return "", "", err
			}
			return sb.Label, "UUID " + sb.UUIDString(), nil
		},
	}
	xfsFS = &filesystem{
		name: storage.FSXFS, kinds: []string{"xfs"}, mkfs: "mkfs.xfs", force: "-f", pkg: "xfsprogs",
		maxLabel: xfs.MaxLabel,
		readLabel: func(device string) (string, string, error) {
			sb, err := xfs.ReadDevice(device)
			if err != nil {
				return "", "", err
			}
			return sb.Label, "UUID " + sb.UUIDString(), nil
		},
	}
	filesystems = []*filesystem{btrfsFS, ext4FS, xfsFS}
)

// filesystemNamed returns the filesystem --fs names.
func filesystemNamed(name string) (*filesystem, error) {
	var names []string
	for _, f := range filesystems {
		if f.name == name {
			return f, nil
		}
		names = append(names, f.name)
	}
	return nil, fmt.Errorf("--fs %q: one of %s expected", name, strings.Join(names, ", "))
}

// filesystemOf returns the filesystem a signature is, nil for any other.
func filesystemOf(s Signature) *filesystem {
	for _, f := range filesystems {
		if slices.Contains(f.kinds, s.Kind) {
			return f
		}
	}
	return nil
}

// labelLimits lists the longest label of each filesystem, for --help.
func labelLimits() string {
	var l []string
	for _, f := range filesystems {
		l = append(l, fmt.Sprintf("%d bytes on %s", f.maxLabel, f.name))
	}
	return strings.Join(l, ", ")
}

// checkLabel refuses a label the superblock cannot hold, before anything
// is formatted: mkfs.ext4 would cut it, and the init would then not find
// the volume by the label the operator gave.
func (f *filesystem) checkLabel(label string) error {
	if len(label) > f.maxLabel {
		return fmt.Errorf("--label %q is %d bytes: the %s superblock holds a label of at most %d bytes; choose a shorter one (and give it to the init as homestaker.label)",
			label, len(label), f.name, f.maxLabel)
	}
	return nil
}

// mkfsArgs are the arguments of f.mkfs for device.
func (f *filesystem) mkfsArgs(device, label string, force bool) []string {
	args := []string{"-L", label}
	if force {
		args = append(args, f.force)
	}
	return append(args, device)
}

// format runs f.mkfs on device (a block device or an image file). Its
// chatter is shown only when it fails.
func (f *filesystem) format(device, label string, force bool) error {
	bin, err := exec.LookPath(f.mkfs)
	if err != nil {
		return fmt.Errorf("%s not found in PATH: install %s", f.mkfs, f.pkg)
	}
	args := f.mkfsArgs(device, label, force)
	out, err := exec.Command(bin, args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s %s: %v\n%s", f.mkfs, strings.Join(args, " "), err, bytes.TrimSpace(out))
	}
	return nil
}

// nameKind is what a name of homestaker.subvols is made as on f.
func (f *filesystem) nameKind() string {
	if f.subvolumes {
		return "subvolume"
	}
	return "directory"
}

// ensureName makes the name in the mounted top level dir unless it is
// there: a subvolume on Btrfs, a directory on ext4 and xfs. A new one gets
// mode, set after the umask. An existing one is kept as it is.
func (f *filesystem) ensureName(dir, name string, mode os.FileMode) (created bool, err error) {
	if f.subvolumes {
		created, err = ensureSubvolume(dir, name)
	} else {
		created, err = ensureDirectory(dir, name)
	}
	if err != nil || !created {
		return created, err
	}
	p := filepath.Join(dir, name)
	if err := os.Chmod(p, mode); err != nil {
		return true, fmt.Errorf("chmod %04o %s: %v", mode, p, err)
	}
	return true, nil
}

// ensureDirectory creates the directory name in the top level dir unless
// it exists. Anything else of that name, a symbolic link too (the init
// does not follow one), is refused naming what it is.
func ensureDirectory(dir, name string) (created bool, err error) {
	p := filepath.Join(dir, name)
	st, err := os.Lstat(p)
	switch {
	case err == nil && st.IsDir():
		return false, nil
	case err == nil:
		return false, fmt.Errorf("the volume holds a %s named %q where the directory belongs (the init does not follow it): move it away and run prepare again", describeMode(st.Mode()), name)
	case !errors.Is(err, fs.ErrNotExist):
		return false, err
	}
	if err := os.Mkdir(p, 0o700); err != nil {
		return false, fmt.Errorf("creating directory %s: %v", name, err)
	}
	return true, nil
}

func describeMode(m os.FileMode) string {
	switch {
	case m&fs.ModeSymlink != 0:
		return "symbolic link"
	case m.IsRegular():
		return "file"
	}
	return m.Type().String()
}

// snapshotNotice is what prepare says on a filesystem that cannot
// snapshot, "" on Btrfs.
func (f *filesystem) snapshotNotice() string {
	if f.subvolumes {
		return ""
	}
	return fmt.Sprintf("note: snapshots of the client data before an update need Btrfs: on this %s volume a bad update's data migration "+
		"cannot be rolled back (the clients may then need a re-sync). --fs btrfs, the default, keeps that possible.", f.name)
}
