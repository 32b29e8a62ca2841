package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// mountEntry is one line of /proc/self/mountinfo (proc(5)).
type mountEntry struct {
	Dev        string // "major:minor" of the mounted filesystem
	MountPoint string
	FSType     string
	Source     string // the device as given to mount, e.g. /dev/loop0
	Options    string // the mount's own options: "rw,noatime" or "ro,..."
}

// parseMountinfo reads the fields that name a mount's device. Octal
// escapes (\040 for a space) are decoded; malformed lines are skipped.
func parseMountinfo(text string) []mountEntry {
	var out []mountEntry
	for _, line := range strings.Split(text, "\n") {
		f := strings.Fields(line)
		sep := -1
		for i := 6; i < len(f); i++ {
			if f[i] == "-" {
				sep = i
				break
			}
		}
		if sep < 0 || sep+2 >= len(f) {
			continue
		}
		out = append(out, mountEntry{Dev: f[2], MountPoint: unescapeMount(f[4]), FSType: f[sep+1], Source: unescapeMount(f[sep+2]), Options: f[5]})
	}
	return out
}

// unescapeMount decodes the kernel's \ooo escapes of space, tab, newline
// and backslash.
func unescapeMount(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+4 <= len(s) {
			if n, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// parseSwaps returns the Filename column of /proc/swaps.
func parseSwaps(text string) []string {
	var out []string
	for i, line := range strings.Split(text, "\n") {
		f := strings.Fields(line)
		if i == 0 || len(f) == 0 {
			continue // the header
		}
		out = append(out, unescapeMount(f[0]))
	}
	return out
}

// devNum is "major:minor" as /proc and /sys spell it.
func devNum(rdev uint64) string {
	return fmt.Sprintf("%d:%d", unix.Major(rdev), unix.Minor(rdev))
}

const (
	sysRoot  = "/sys"
	procRoot = "/proc"
)

// inUse says why a device or image file must not be formatted: mounted,
// active swap, held by device-mapper or md, a member of a mounted Btrfs,
// or (for an image) attached to a loop device. No reason means free. This
// is never overridden by --force: formatting a filesystem in use corrupts
// it under whoever uses it.
func inUse(path string, st os.FileInfo) ([]string, error) {
	mi, err := os.ReadFile(filepath.Join(procRoot, "self/mountinfo"))
	if err != nil {
		return nil, fmt.Errorf("reading the mount table: %v", err)
	}
	mounts := parseMountinfo(string(mi))
	swaps := []string{}
	if b, err := os.ReadFile(filepath.Join(procRoot, "swaps")); err == nil {
		swaps = parseSwaps(string(b))
	}
	if st.Mode().IsRegular() {
		return imageInUse(path, st, mounts, swaps), nil
	}
	sys, ok := st.Sys().(*syscall.Stat_t)
	if !ok {
		return nil, fmt.Errorf("%s: no device number", path)
	}
	return blockInUse(path, sys.Rdev, mounts, swaps), nil
}

// blockInUse checks the device and, for a whole disk, its partitions.
func blockInUse(path string, rdev uint64, mounts []mountEntry, swaps []string) []string {
	var why []string
	devs := []string{devNum(rdev)}
	names := map[string]string{} // major:minor -> kernel name
	sysDir := filepath.Join(sysRoot, "dev/block", devNum(rdev))
	names[devNum(rdev)] = kernelName(sysDir)
	if ents, err := os.ReadDir(sysDir); err == nil {
		for _, e := range ents {
			b, err := os.ReadFile(filepath.Join(sysDir, e.Name(), "dev"))
			if _, perr := os.Stat(filepath.Join(sysDir, e.Name(), "partition")); err == nil && perr == nil {
				d := strings.TrimSpace(string(b))
				devs = append(devs, d)
				names[d] = e.Name()
			}
		}
	}
	for _, d := range devs {
		name := names[d]
		what := path
		if d != devNum(rdev) {
			what = "its partition /dev/" + name
		}
		for _, m := range mounts {
			if m.Dev == d || sameDevice(m.Source, d) {
				why = append(why, fmt.Sprintf("%s is mounted at %s (%s)", what, m.MountPoint, m.FSType))
			}
		}
		for _, s := range swaps {
			if sameDevice(s, d) {
				why = append(why, what+" is active swap")
			}
		}
		if name != "" {
			if hs, _ := os.ReadDir(filepath.Join(sysRoot, "class/block", name, "holders")); len(hs) > 0 {
				var h []string
				for _, e := range hs {
					h = append(h, e.Name())
				}
				why = append(why, fmt.Sprintf("%s is held by %s (device-mapper, LVM or md RAID)", what, strings.Join(h, ", ")))
			}
			// A mounted Btrfs lists all its member devices here; the
			// mount table names only one of them.
			if ms, _ := filepath.Glob(filepath.Join(sysRoot, "fs/btrfs/*/devices", name)); len(ms) > 0 {
				fsid := filepath.Base(filepath.Dir(filepath.Dir(ms[0])))
				why = append(why, fmt.Sprintf("%s is a member of the mounted Btrfs %s", what, fsid))
			}
		}
	}
	return dedupe(why)
}

// imageInUse checks an image file: attached to a loop device (mounted or
// not: someone set it up and may mount it), or used as swap.
func imageInUse(path string, st os.FileInfo, mounts []mountEntry, swaps []string) []string {
	var why []string
	loops, _ := filepath.Glob(filepath.Join(sysRoot, "block/loop*/loop/backing_file"))
	for _, bf := range loops {
		b, err := os.ReadFile(bf)
		if err != nil {
			continue
		}
		backing := strings.TrimSpace(string(b))
		if !sameFile(backing, path, st) {
			continue
		}
		loopDir := filepath.Dir(filepath.Dir(bf))
		loop := "/dev/" + filepath.Base(loopDir)
		d, _ := os.ReadFile(filepath.Join(loopDir, "dev"))
		var at []string
		for _, m := range mounts {
			if m.Dev == strings.TrimSpace(string(d)) || m.Source == loop {
				at = append(at, m.MountPoint)
			}
		}
		if ms, _ := filepath.Glob(filepath.Join(sysRoot, "fs/btrfs/*/devices", filepath.Base(loopDir))); len(ms) > 0 && len(at) == 0 {
			at = append(at, "(a mounted Btrfs)")
		}
		if len(at) > 0 {
			why = append(why, fmt.Sprintf("%s is attached to %s, which is mounted at %s", path, loop, strings.Join(at, ", ")))
		} else {
			why = append(why, fmt.Sprintf("%s is attached to %s (losetup -d %s detaches it)", path, loop, loop))
		}
	}
	for _, m := range mounts {
		if sameFile(m.Source, path, st) {
			why = append(why, fmt.Sprintf("%s is mounted at %s (%s)", path, m.MountPoint, m.FSType))
		}
	}
	for _, s := range swaps {
		if sameFile(s, path, st) {
			why = append(why, path+" is active swap")
		}
	}
	return dedupe(why)
}

func kernelName(sysDir string) string {
	t, err := filepath.EvalSymlinks(sysDir)
	if err != nil {
		return ""
	}
	return filepath.Base(t)
}

// sameDevice reports whether path is the block device major:minor d.
func sameDevice(path, d string) bool {
	if !strings.HasPrefix(path, "/") {
		return false
	}
	var st unix.Stat_t
	if unix.Stat(path, &st) != nil || st.Mode&unix.S_IFMT != unix.S_IFBLK {
		return false
	}
	return devNum(st.Rdev) == d
}

// sameFile reports whether p names the file st (loop devices report the
// path at attach time, which may since have been renamed: compare inodes).
func sameFile(p, path string, st os.FileInfo) bool {
	if p == path {
		return true
	}
	if !strings.HasPrefix(p, "/") {
		return false
	}
	o, err := os.Stat(p)
	return err == nil && os.SameFile(o, st)
}

func dedupe(s []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, x := range s {
		if !seen[x] {
			seen[x] = true
			out = append(out, x)
		}
	}
	return out
}
