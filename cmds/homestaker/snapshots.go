package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"golang.org/x/sys/unix"

	"github.com/homestaker/homestaker-boot/init/bootcount"
	"github.com/homestaker/homestaker-boot/init/english"
	snapset "github.com/homestaker/homestaker-boot/init/snapshot"
	"github.com/homestaker/homestaker-boot/init/storage"
)

const (
	snapshotsSynopsis = "[--json] DIR"
	snapshotsAbout    = `Lists the snapshot sets on the volume whose top level (subvolid=5) is mounted
at DIR: when each was taken, why (before-TREE: before the first boot of a new
tree; failed-TREE: the data a rollback replaced; manual), the tree and its
identity, the snapshots and whether each is read-only, and the space the set
holds on its own (from Btrfs quota groups when they are enabled, else
"unknown").

exit status: 0 listed, 1 the volume could not be read, 2 wrong usage`
	snapshotSynopsis = "DIR"
	snapshotAbout    = `Takes a manual set of read-only snapshots of the client data subvolumes
(erigon, geth, nethermind, besu, reth, lighthouse, prysm, teku, nimbus,
lodestar: those on the volume) under DIR/snapshots. DIR is the volume's
top level (subvolid=5), mounted read-write. It refuses while the volume is
mounted read-write anywhere else: the clients may be running, and a snapshot
of a database being written is only crash-consistent.

exit status: 0 taken, 1 refused or failed, 2 wrong usage`
	rollbackSynopsis = "[--dry-run] [--to SET] [--data-only] DIR"
	rollbackAbout    = `Rolls the client data and the image back to a snapshot set: each client
subvolume the set holds is kept as it is now in a new read-only failed- set
(nothing is deleted), and a writable snapshot of the set's copy takes its
place. The slashing protection of each validator client is never rolled back:
it is carried forward from the live data into the restored copy first
(Lighthouse, Nimbus, Prysm, Teku, Lodestar); if one cannot be, nothing
changes. The image goes back with the data: the tree that wrote the set's
data becomes /boot/current again (it is /boot/previous after an update).

SET is a set's name as "homestaker snapshots" lists it; without --to, the
newest before- set. DIR is the volume's top level, mounted read-write, and
the volume must not be mounted read-write anywhere else. --dry-run says what
would be done and changes nothing: run it first.

exit status: 0 rolled back (or, with --dry-run, it would be), 1 refused or
failed, 2 wrong usage`
)

// volumeArg reads the DIR of the snapshot commands: the last argument, or
// --volume DIR as install-next has it.
func volumeArg(name, synopsis string, volume string, rest []string, stderr io.Writer) (string, int) {
	switch {
	case volume != "" && len(rest) == 0:
	case volume == "" && len(rest) == 1:
		volume = rest[0]
	case volume == "" && len(rest) == 0:
		return "", usageFailed(stderr, name, synopsis, errors.New("DIR is missing: give where the volume's top level (subvolid=5) is mounted"))
	default:
		return "", usageFailed(stderr, name, synopsis, fmt.Errorf("one DIR expected, got %q (flags go before DIR)", rest))
	}
	if st, err := os.Stat(volume); err != nil {
		return "", usageFailed(stderr, name, synopsis, fmt.Errorf("%v (mount the volume's top level first: mount -o subvolid=5 DEVICE DIR)", err))
	} else if !st.IsDir() {
		return "", usageFailed(stderr, name, synopsis, fmt.Errorf("%s is not a directory", volume))
	}
	return volume, -1
}

// clientSubvolumes are the client data names that are subvolumes on the
// volume at top, and those that are plain directories.
func clientSubvolumes(top string) (subs, dirs []string) {
	for _, n := range snapset.ClientData {
		switch k, err := storage.KindOf(filepath.Join(top, n)); {
		case err != nil:
		case k == storage.KindSubvolume:
			subs = append(subs, n)
		default:
			dirs = append(dirs, n)
		}
	}
	return subs, dirs
}

// setJSON is one set in `homestaker snapshots --json`.
type setJSON struct {
	Name        string         `json:"name"`
	Time        time.Time      `json:"time"`
	Reason      string         `json:"reason"`
	Tree        string         `json:"tree,omitempty"`
	Identity    string         `json:"identity,omitempty"`
	DataOf      string         `json:"data_of,omitempty"`
	Snapshots   []snapshotJSON `json:"snapshots"`
	Exclusive   *int64         `json:"exclusive_bytes"` // null: unknown (quotas off)
	Problem     string         `json:"problem,omitempty"`
	InitVersion string         `json:"init_version,omitempty"`
}

type snapshotJSON struct {
	Name     string `json:"name"`
	ReadOnly bool   `json:"read_only"`
	ID       uint64 `json:"subvolume_id"`
}

func runSnapshots(h *host, args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("snapshots")
	asJSON := fs.Bool("json", false, "print the sets as JSON")
	volume := fs.String("volume", "", "the mounted top level of the volume (or give it as DIR)")
	if code := parseFlags(fs, usageText{snapshotsSynopsis, snapshotsAbout, map[string]string{"volume": "DIR"}}, args, stdout, stderr); code >= 0 {
		return code
	}
	top, code := volumeArg("snapshots", snapshotsSynopsis, *volume, fs.Args(), stderr)
	if code >= 0 {
		return code
	}
	sets, err := snapset.List(top)
	if err != nil {
		fmt.Fprintf(stderr, "homestaker snapshots: %v\n", err)
		return exitCheck
	}
	sizes := qgroupExclusive(top)
	var out []setJSON
	for _, e := range sets {
		j := setJSON{Name: e.Name, Time: e.Time, Reason: e.Reason(), Tree: e.Tree, Identity: e.Manifest.Identity, DataOf: e.Manifest.DataOf, Problem: e.Problem, InitVersion: e.Manifest.Version, Snapshots: []snapshotJSON{}}
		var total int64
		known := sizes != nil
		for _, n := range e.Manifest.Subvolumes {
			rel := path.Join(snapset.Dir, e.Name, n)
			ro, err := snapset.ReadOnly(top, rel)
			if err != nil {
				j.Problem = strings.TrimPrefix(j.Problem+"; "+err.Error(), "; ")
				continue
			}
			id, _ := snapset.SubvolumeID(top, rel)
			j.Snapshots = append(j.Snapshots, snapshotJSON{Name: n, ReadOnly: ro, ID: id})
			if s, ok := sizes[id]; ok {
				total += s
			} else {
				known = false
			}
		}
		if known {
			j.Exclusive = &total
		}
		out = append(out, j)
	}
	if *asJSON {
		if out == nil {
			out = []setJSON{}
		}
		b, _ := json.MarshalIndent(out, "", "  ")
		fmt.Fprintf(stdout, "%s\n", b)
		return exitOK
	}
	if len(out) == 0 {
		fmt.Fprintf(stdout, "no snapshot sets in %s\n", filepath.Join(top, snapset.Dir))
		return exitOK
	}
	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "SET\tREASON\tTREE\tSNAPSHOTS\tSIZE\n")
	for _, j := range out {
		var snaps []string
		for _, s := range j.Snapshots {
			ro := "ro"
			if !s.ReadOnly {
				ro = "WRITABLE"
			}
			snaps = append(snaps, s.Name+"("+ro+")")
		}
		size := "unknown (quotas off)"
		if j.Exclusive != nil {
			size = humanSize(*j.Exclusive) + " exclusive"
		}
		tree := snapset.Short(j.Identity)
		if j.Tree != "" {
			tree = j.Tree + " " + tree
		}
		if tree == "" {
			tree = "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", j.Name, j.Reason, tree, strings.Join(snaps, " "), size)
		if j.Problem != "" {
			fmt.Fprintf(tw, "  problem: %s\t\t\t\t\n", j.Problem)
		}
	}
	tw.Flush()
	return exitOK
}

// qgroupExclusive is each subvolume's exclusive bytes by id, from
// `btrfs qgroup show`; nil when quotas are off or btrfs-progs is missing.
func qgroupExclusive(top string) map[uint64]int64 {
	out, err := exec.Command("btrfs", "qgroup", "show", "--raw", top).Output()
	if err != nil {
		return nil
	}
	m := map[uint64]int64{}
	for _, line := range strings.Split(string(out), "\n") {
		f := strings.Fields(line)
		if len(f) < 3 || !strings.HasPrefix(f[0], "0/") {
			continue
		}
		id, err1 := strconv.ParseUint(strings.TrimPrefix(f[0], "0/"), 10, 64)
		excl, err2 := strconv.ParseInt(f[2], 10, 64)
		if err1 == nil && err2 == nil {
			m[id] = excl
		}
	}
	return m
}

// writableElsewhere lists the read-write mounts of the filesystem at top
// other than top itself: the clients may be running there.
func writableElsewhere(top string) ([]string, error) {
	abs, err := filepath.Abs(top)
	if err != nil {
		return nil, err
	}
	mi, err := os.ReadFile(filepath.Join(procRoot, "self/mountinfo"))
	if err != nil {
		return nil, fmt.Errorf("reading the mount table: %v", err)
	}
	mounts := parseMountinfo(string(mi))
	var dev string
	for _, m := range mounts {
		if m.MountPoint == abs {
			dev = m.Dev
		}
	}
	if dev == "" {
		return nil, fmt.Errorf("%s is not a mount point: mount the volume's top level there (mount -o subvolid=5 DEVICE %s)", top, top)
	}
	var rw []string
	for _, m := range mounts {
		if m.Dev == dev && m.MountPoint != abs && strings.HasPrefix(m.Options, "rw") {
			rw = append(rw, m.MountPoint)
		}
	}
	return rw, nil
}

// refuseInUse is the refusal of a command that must not run beside the
// clients; "" when the volume is mounted read-write only at top.
func refuseInUse(top string) string {
	rw, err := writableElsewhere(top)
	if err != nil {
		return err.Error()
	}
	if len(rw) > 0 {
		return fmt.Sprintf("the volume is also mounted read-write at %s: the clients may be running; stop them and unmount those (or run this from the fallback Linux or the rescue shell)", strings.Join(rw, ", "))
	}
	var st unix.Statfs_t
	if err := unix.Statfs(top, &st); err != nil {
		return fmt.Sprintf("statfs %s: %v", top, err)
	}
	if st.Type != unix.BTRFS_SUPER_MAGIC {
		return fmt.Sprintf("%s is not a Btrfs top level: only Btrfs subvolumes can be snapshotted", top)
	}
	if st.Flags&unix.ST_RDONLY != 0 {
		return fmt.Sprintf("%s is mounted read-only; mount it read-write (mount -o remount,rw %s)", top, top)
	}
	return ""
}

func runSnapshot(h *host, args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("snapshot")
	volume := fs.String("volume", "", "the mounted top level of the volume (or give it as DIR)")
	if code := parseFlags(fs, usageText{snapshotSynopsis, snapshotAbout, map[string]string{"volume": "DIR"}}, args, stdout, stderr); code >= 0 {
		return code
	}
	top, code := volumeArg("snapshot", snapshotSynopsis, *volume, fs.Args(), stderr)
	if code >= 0 {
		return code
	}
	if why := refuseInUse(top); why != "" {
		fmt.Fprintf(stderr, "homestaker snapshot: refused: %s\n", why)
		return exitCheck
	}
	subs, dirs := clientSubvolumes(top)
	if len(dirs) > 0 {
		fmt.Fprintf(stdout, "note: %s %s plain directories, not subvolumes, and cannot be snapshotted\n", strings.Join(dirs, ", "), english.Plural(len(dirs), "is", "are"))
	}
	if len(subs) == 0 {
		fmt.Fprintf(stderr, "homestaker snapshot: no client data subvolume (%s) on %s\n", strings.Join(snapset.ClientData, ", "), top)
		return exitCheck
	}
	last, _ := snapset.ReadLastBooted(top)
	e, err := snapset.Take(top, snapset.Manifest{Reason: snapset.Manual, DataOf: last.Identity, Version: version}, subs, time.Now())
	if err != nil {
		fmt.Fprintf(stderr, "homestaker snapshot: %v\n", err)
		return exitCheck
	}
	fmt.Fprintf(stdout, "read-only snapshots of %s in %s\n", strings.Join(subs, ", "), filepath.Join(top, snapset.Dir, e.Name))
	return exitOK
}

func runRollback(h *host, args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("rollback")
	dry := fs.Bool("dry-run", false, "say what would be rolled back and carried forward, and change nothing")
	to := fs.String("to", "", "the set to roll back to (default: the newest before- set)")
	dataOnly := fs.Bool("data-only", false, "roll back the data only, leaving /boot/current as it is")
	volume := fs.String("volume", "", "the mounted top level of the volume (or give it as DIR)")
	if code := parseFlags(fs, usageText{rollbackSynopsis, rollbackAbout, map[string]string{"volume": "DIR", "to": "SET"}}, args, stdout, stderr); code >= 0 {
		return code
	}
	top, code := volumeArg("rollback", rollbackSynopsis, *volume, fs.Args(), stderr)
	if code >= 0 {
		return code
	}
	fail := func(format string, a ...any) int {
		fmt.Fprintf(stderr, "homestaker rollback: "+format+"\n", a...)
		return exitCheck
	}
	sets, err := snapset.List(top)
	if err != nil {
		return fail("%v", err)
	}
	var from *snapset.Entry
	for i := len(sets) - 1; i >= 0; i-- {
		if (*to == "" && sets[i].Kind == snapset.Before) || sets[i].Name == *to {
			from = &sets[i]
			break
		}
	}
	if from == nil {
		if *to != "" {
			return fail("no set %s in %s (homestaker snapshots %s lists them)", *to, filepath.Join(top, snapset.Dir), top)
		}
		return fail("no before- set in %s: nothing to roll back to", filepath.Join(top, snapset.Dir))
	}
	subs, _ := clientSubvolumes(top)
	names, carried, err := snapset.Check(top, *from, subs)
	if err != nil {
		return fail("refused: %v", err)
	}
	// The image: the tree whose clients wrote the set's data.
	cur, prev := snapset.TreeIdentityOnVolume(top, "boot/current"), snapset.TreeIdentityOnVolume(top, "boot/previous")
	image := ""
	switch data := from.Manifest.DataOf; {
	case *dataOnly:
		image = "the image stays as it is (--data-only)"
	case data != "" && data == cur:
		image = "the image stays: /boot/current is the tree that wrote this data"
	case data != "" && data == prev:
		image = "/boot/previous (" + snapset.Short(prev) + ", the tree that wrote this data) becomes /boot/current again, and /boot/current (" + snapset.Short(cur) + ") /boot/previous"
	default:
		return fail("refused: the tree that wrote this set's data (%s) is neither /boot/current nor /boot/previous; install it first with `homestaker install-next`, or roll back the data only with --data-only", orUnknown(snapset.Short(from.Manifest.DataOf)))
	}
	verb := "rolled back"
	if *dry {
		verb = "would roll back"
	}
	fmt.Fprintf(stdout, "%s %s to %s (%s, taken %s)\n", verb, strings.Join(names, ", "), from.Name, from.Reason(), from.Time.Format(time.RFC3339))
	for _, n := range names {
		for _, p := range carried[n] {
			fmt.Fprintf(stdout, "  slashing protection carried forward: %s (%s)\n", path.Join(n, p.Path), p.Client)
		}
	}
	fmt.Fprintf(stdout, "  image: %s\n", image)
	if *dry {
		fmt.Fprintf(stdout, "  the data as it is now would be kept read-only in a new failed- set under %s\n(--dry-run: nothing changed)\n", filepath.Join(top, snapset.Dir))
		return exitOK
	}
	if why := refuseInUse(top); why != "" {
		return fail("refused: %s", why)
	}
	last, _ := snapset.ReadLastBooted(top)
	tree := last.Tree
	if tree == "" {
		tree = "current"
	}
	m := snapset.Manifest{Reason: snapset.Failed + "-" + tree, Tree: tree, Identity: last.Identity, DataOf: last.Identity, Version: version}
	r, err := snapset.Prepare(top, *from, names, m, time.Now())
	if err != nil {
		return fail("refused, nothing live changed: %v", err)
	}
	if err := r.Swap(); err != nil {
		return fail("%v", err)
	}
	fmt.Fprintf(stdout, "  the replaced data is kept read-only in %s\n", filepath.Join(top, snapset.Dir, r.Failed.Name))
	if !*dataOnly && from.Manifest.DataOf == prev && prev != cur {
		if err := swapTrees(top); err != nil {
			return fail("the data is rolled back, the image is not: %v", err)
		}
	}
	if !*dataOnly || from.Manifest.DataOf == cur {
		// The next boot is of the tree this data belongs to: no new set.
		if err := snapset.WriteLastBooted(top, snapset.LastBooted{Identity: from.Manifest.DataOf, Tree: "current"}); err != nil {
			return fail("%v", err)
		}
	}
	return exitOK
}

func orUnknown(s string) string {
	if s == "" {
		return "unknown"
	}
	return s
}

// swapTrees exchanges boot/current and boot/previous in one rename and
// gives the new current all its tries.
func swapTrees(top string) error {
	boot := filepath.Join(top, "boot")
	unlock, err := lockBoot(boot)
	if err != nil {
		return err
	}
	defer unlock()
	if err := unix.Renameat2(unix.AT_FDCWD, filepath.Join(boot, "previous"), unix.AT_FDCWD, filepath.Join(boot, "current"), unix.RENAME_EXCHANGE); err != nil {
		return fmt.Errorf("exchanging %s/previous and %s/current: %v", boot, boot, err)
	}
	if err := bootcount.Reset(filepath.Join(boot, "current")); err != nil {
		return err
	}
	return syncTree(boot)
}

// snapshotOutlook says what the first boot of a newly installed tree does
// with the client data on the volume at top.
func snapshotOutlook(top string) string {
	var st unix.Statfs_t
	if err := unix.Statfs(top, &st); err == nil && st.Type != unix.BTRFS_SUPER_MAGIC {
		return "snapshots: none: the volume is not Btrfs, so if the new tree fails, boot counting falls back with the image only, on the data its clients left"
	}
	subs, dirs := clientSubvolumes(top)
	var b strings.Builder
	if len(subs) > 0 {
		fmt.Fprintf(&b, "snapshots: the first boot of the new tree takes read-only snapshots of %s under %s first (unless homestaker.snapshot= says otherwise); if it fails, boot counting rolls them back with the image", strings.Join(subs, ", "), filepath.Join(top, snapset.Dir))
	} else {
		b.WriteString("snapshots: none: no client data subvolume on the volume")
	}
	if len(dirs) > 0 {
		fmt.Fprintf(&b, "\nnote: %s %s plain directories, not subvolumes, and cannot be snapshotted: a fallback keeps the data the new clients left", strings.Join(dirs, ", "), english.Plural(len(dirs), "is", "are"))
	}
	return b.String()
}
