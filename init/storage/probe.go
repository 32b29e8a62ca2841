package storage

import (
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/homestaker/homestaker-boot/init/btrfs"
	"github.com/homestaker/homestaker-boot/init/ext4"
	"github.com/homestaker/homestaker-boot/init/xfs"
)

// The filesystem types the volume may have, as the kernel names them
// (mount(2)'s type, /proc/filesystems).
const (
	FSBtrfs = "btrfs"
	FSExt4  = "ext4" // also ext2 and ext3, which the ext4 driver mounts
	FSXFS   = "xfs"
)

// probe reads the superblocks of every filesystem type the volume may have
// from the device at path. A device with none gives an error wrapping
// errNoFilesystem; one with two (a disk reformatted by a tool that left
// the old signature) is refused, since the kernel and blkid could each
// take it for either.
func probe(path string) (Device, error) {
	f, err := os.Open(path)
	if err != nil {
		return Device{}, err
	}
	defer f.Close()
	var found []Device
	if sb, err := btrfs.ReadSuperblock(f); err == nil {
		found = append(found, Device{Path: path, Type: FSBtrfs, Label: sb.Label, UUID: sb.FSIDString(), DevID: sb.DevID, NumDevices: sb.NumDevices, SB: sb})
	} else if !errors.Is(err, btrfs.ErrNotBtrfs) {
		return Device{}, fmt.Errorf("%s: %w", path, err)
	}
	if sb, err := ext4.ReadSuperblock(f); err == nil {
		found = append(found, Device{Path: path, Type: FSExt4, Label: sb.Label, UUID: sb.UUIDString(), DevID: 1, NumDevices: 1, Ext4: sb})
	} else if !errors.Is(err, ext4.ErrNotExt4) && !errors.Is(err, ext4.ErrJournalDevice) {
		return Device{}, fmt.Errorf("%s: %w", path, err)
	}
	if sb, err := xfs.ReadSuperblock(f); err == nil {
		found = append(found, Device{Path: path, Type: FSXFS, Label: sb.Label, UUID: sb.UUIDString(), DevID: 1, NumDevices: 1})
	} else if !errors.Is(err, xfs.ErrNotXFS) {
		return Device{}, fmt.Errorf("%s: %w", path, err)
	}
	switch len(found) {
	case 0:
		return Device{}, errNoFilesystem
	case 1:
		return found[0], nil
	}
	var what []string
	for _, d := range found {
		what = append(what, fmt.Sprintf("%s (label %q)", d.Type, d.Label))
	}
	return Device{}, fmt.Errorf("%s holds the superblocks of %s: it is not clear which filesystem it has, so it is left out; `wipefs %s` lists the signatures, `wipefs -o OFFSET` removes a stale one", path, strings.Join(what, " and "), path)
}

// errNoFilesystem: no Btrfs, ext4 or xfs superblock on the device.
var errNoFilesystem = errors.New("no Btrfs, ext4 or xfs superblock")
