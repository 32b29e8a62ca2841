// Package storage is the storage stage: it finds the Btrfs volume by its
// label among the block devices, registers every member of a multi-device
// filesystem with the kernel, and mounts the subvolumes.
package storage

import (
	"fmt"
	"sort"
	"strings"

	"github.com/homestaker/homestaker-boot/init/btrfs"
	"github.com/homestaker/homestaker-boot/init/report"
)

// FallbackLabel is the label the getting-started guide also uses in one
// place; it is taken, with a notice, only when homestaker.label was not
// given and no filesystem has the default label.
const FallbackLabel = "homestakeros"

// Device is a block device and the Btrfs superblock found on it.
type Device struct {
	Path string // /dev/vda
	SB   *btrfs.Superblock
}

// Filesystem is one Btrfs filesystem: the members found so far.
type Filesystem struct {
	Label      string
	FSID       string
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
// never guesses: two filesystems (two fsids) with the wanted label is an
// error naming both.
func Choose(devs []Device, label string, labelSet bool) Choice {
	byLabel := group(devs)
	if c := pick(byLabel[label], label); c.FS != nil || c.Err != nil || labelSet {
		return c
	}
	c := pick(byLabel[FallbackLabel], FallbackLabel)
	c.Fallback = c.FS != nil
	return c
}

// group gathers members by label and fsid, ignoring a device seen twice
// (the same devid of the same fsid, as with multipath).
func group(devs []Device) map[string]map[string]*Filesystem {
	out := map[string]map[string]*Filesystem{}
	for _, d := range devs {
		fsid := d.SB.FSIDString()
		if out[d.SB.Label] == nil {
			out[d.SB.Label] = map[string]*Filesystem{}
		}
		fs := out[d.SB.Label][fsid]
		if fs == nil {
			fs = &Filesystem{Label: d.SB.Label, FSID: fsid, NumDevices: d.SB.NumDevices}
			out[d.SB.Label][fsid] = fs
		}
		dup := false
		for _, m := range fs.Members {
			if m.SB.DevID == d.SB.DevID {
				dup = true
			}
		}
		if !dup {
			fs.Members = append(fs.Members, d)
		}
	}
	for _, fss := range out {
		for _, fs := range fss {
			sort.Slice(fs.Members, func(i, j int) bool { return fs.Members[i].SB.DevID < fs.Members[j].SB.DevID })
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
	for _, id := range ids {
		found = append(found, fmt.Sprintf("fsid %s on %s", id, strings.Join(fss[id].Paths(), ", ")))
	}
	return Choice{Err: report.Fail(
		fmt.Sprintf("one Btrfs filesystem labelled %q", label),
		fmt.Sprintf("%d filesystems with that label: %s", len(fss), strings.Join(found, "; ")),
		fmt.Sprintf("the init will not guess which holds the chain data: relabel or remove the other one (`btrfs filesystem label DEVICE NEWLABEL`), or boot with homestaker.label= naming a unique label"))}
}

// Labels summarises what was seen, for the error when nothing matched.
func Labels(devs []Device) string {
	if len(devs) == 0 {
		return "no Btrfs filesystem on any block device"
	}
	var s []string
	for _, d := range devs {
		s = append(s, fmt.Sprintf("%s: label %q", d.Path, d.SB.Label))
	}
	sort.Strings(s)
	return "Btrfs filesystems seen: " + strings.Join(s, ", ")
}
