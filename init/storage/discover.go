package storage

import (
	"errors"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// skipped are block devices that never hold the volume: RAM disks, zram,
// loop devices the init did not set up, optical drives and device-mapper
// targets (no udev here to assemble them).
var skipped = []string{"ram", "zram", "loop", "sr", "fd", "dm-", "nbd"}

// Scan reads the Btrfs, ext4 and xfs superblocks of every block device
// (disks and partitions: NVMe, virtio, SATA, USB) listed in sysfs. Devices
// without one of those filesystems are left out; unreadable ones (and ones
// with two signatures) are returned in errs so a dying disk is not silent.
func Scan(sysBlock, devDir string) (devs []Device, seen []string, errs []error) {
	ents, err := os.ReadDir(sysBlock)
	if err != nil {
		return nil, nil, []error{err}
	}
	for _, e := range ents {
		name := e.Name()
		if skip(name) {
			continue
		}
		// A disk being probed may have no size yet; size 0 also marks
		// empty card readers.
		if b, err := os.ReadFile(filepath.Join(sysBlock, name, "size")); err == nil && strings.TrimSpace(string(b)) == "0" {
			continue
		}
		path := filepath.Join(devDir, name)
		seen = append(seen, path)
		d, err := probe(path)
		if errors.Is(err, errNoFilesystem) || errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			errs = append(errs, err)
			continue
		}
		devs = append(devs, d)
	}
	sort.Slice(devs, func(i, j int) bool { return devs[i].Path < devs[j].Path })
	return devs, seen, errs
}

func skip(name string) bool {
	for _, p := range skipped {
		if strings.HasPrefix(name, p) {
			return true
		}
	}
	return false
}
