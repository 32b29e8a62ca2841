// Package storage is the storage stage: it finds the volume (Btrfs, ext4 or
// xfs) by its label among the block devices, registers every member of a
// multi-device Btrfs with the kernel, and mounts the subvolumes, or the
// whole volume when the names are plain directories.
package storage

import (
	"fmt"
	"sort"
	"strings"

	"github.com/homestaker/homestaker-boot/init/btrfs"
	"github.com/homestaker/homestaker-boot/init/ext4"
	"github.com/homestaker/homestaker-boot/init/report"
)

// FallbackLabel is the label the getting-started guide also uses in one
// place; it is taken, with a notice, only when homestaker.label was not
// given and no filesystem has the default label.
const FallbackLabel = "homestakeros"

// Device is a block device and the filesystem superblock found on it.
type Device struct {
	Path       string // /dev/vda
	Type       string // FSBtrfs, FSExt4 or FSXFS
	Label      string
	UUID       string            // the filesystem's (Btrfs: fsid, the same on every member)
	DevID      uint64            // Btrfs: this member's number; else 1
	NumDevices uint64            // Btrfs: members the filesystem has; else 1
	SB         *btrfs.Superblock // Btrfs only
	Ext4       *ext4.Superblock  // ext4 only
}

// Filesystem is one filesystem: the members found so far (ext4 and xfs
// have one).
type Filesystem struct {
	Type       string // FSBtrfs, FSExt4 or FSXFS
	Label      string
	FSID       string // the filesystem UUID
	NumDevices uint64
	Members    []Device // sorted by devid
}

// Complete tells whether every member device has been found.
func (f *Filesystem) Complete() bool { return uint64(len(f.Members)) >= f.NumDevices }

// Paths lists the members' device paths.
func (f *Filesystem) Paths() []string {
	var p []string
	for _, m := range f.Members {
		p = append(p, m.Path)
	}
	return p
}

// Choice is the outcome of one look at the devices.
type Choice struct {
	FS       *Filesystem // nil when nothing with the label was found
	Fallback bool        // FS has FallbackLabel
	Err      error       // refuses to choose (two filesystems with the label)
}

// Choose picks the filesystem to mount from the devices seen so far. It
// never guesses: two filesystems (two fsids, of one type or of two) with
// the wanted label is an error naming both.
func Choose(devs []Device, label string, labelSet bool) Choice {
	byLabel := group(devs)
	if c := pick(byLabel[label], label); c.FS != nil || c.Err != nil || labelSet {
		return c
	}
	c := pick(byLabel[FallbackLabel], FallbackLabel)
	c.Fallback = c.FS != nil
	return c
}

// group gathers members by label and by type and fsid, ignoring a device
// seen twice (the same devid of the same fsid, as with multipath).
func group(devs []Device) map[string]map[string]*Filesystem {
	out := map[string]map[string]*Filesystem{}
	for _, d := range devs {
		key := d.Type + " " + d.UUID
		if out[d.Label] == nil {
			out[d.Label] = map[string]*Filesystem{}
		}
		fs := out[d.Label][key]
		if fs == nil {
			fs = &Filesystem{Type: d.Type, Label: d.Label, FSID: d.UUID, NumDevices: d.NumDevices}
			out[d.Label][key] = fs
		}
		dup := false
		for _, m := range fs.Members {
			if m.DevID == d.DevID {
				dup = true
			}
		}
		if !dup {
			fs.Members = append(fs.Members, d)
		}
	}
	for _, fss := range out {
		for _, fs := range fss {
			sort.Slice(fs.Members, func(i, j int) bool { return fs.Members[i].DevID < fs.Members[j].DevID })
		}
	}
	return out
}

func pick(fss map[string]*Filesystem, label string) Choice {
	switch len(fss) {
	case 0:
		return Choice{}
	case 1:
		for _, fs := range fss {
			return Choice{FS: fs}
		}
	}
	var ids []string
	for id := range fss {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	var found []string
	relabel := map[string]bool{}
	var how []string
	for _, id := range ids {
		fs := fss[id]
		found = append(found, fmt.Sprintf("%s fsid %s on %s", fs.Type, fs.FSID, strings.Join(fs.Paths(), ", ")))
		if !relabel[fs.Type] {
			relabel[fs.Type] = true
			how = append(how, relabelCommand[fs.Type])
		}
	}
	return Choice{Err: report.Fail(
		fmt.Sprintf("one filesystem labelled %q", label),
		fmt.Sprintf("%d filesystems with that label: %s", len(fss), strings.Join(found, "; ")),
		fmt.Sprintf("the init will not guess which holds the chain data: relabel or remove the other one (%s), or boot with homestaker.label= naming a unique label", strings.Join(how, ", ")))}
}

// relabelCommand says how each type's label is changed.
var relabelCommand = map[string]string{
	FSBtrfs: "`btrfs filesystem label DEVICE NEWLABEL`",
	FSExt4:  "`e2label DEVICE NEWLABEL`",
	FSXFS:   "`xfs_admin -L NEWLABEL DEVICE`",
}

// Labels summarises what was seen, for the error when nothing matched.
func Labels(devs []Device) string {
	if len(devs) == 0 {
		return "no Btrfs, ext4 or xfs filesystem on any block device"
	}
	var s []string
	for _, d := range devs {
		s = append(s, fmt.Sprintf("%s: %s label %q", d.Path, d.Type, d.Label))
	}
	sort.Strings(s)
	return "filesystems seen: " + strings.Join(s, ", ")
}
