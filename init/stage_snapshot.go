package main

import (
	"context"
	"fmt"
	"path"
	"slices"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/homestaker/homestaker-boot/init/config"
	"github.com/homestaker/homestaker-boot/init/nextstage"
	"github.com/homestaker/homestaker-boot/init/plan"
	"github.com/homestaker/homestaker-boot/init/snapshot"
	"github.com/homestaker/homestaker-boot/init/storage"
)

// fullPercent is the use of the volume above which the stage warns:
// snapshots pin the blocks that the clients rewrite.
const fullPercent = 90

// snapshot keeps the client data safe across an update (see
// init/snapshot): it rolls the data back when boot counting gave a tree
// up, snapshots it before a new tree's first boot, prunes old sets and
// records the tree handed over to. It never stops the boot: what goes
// wrong is a warning, and the boot goes on as it would without snapshots.
func (b *boot) snapshot(ctx context.Context, rec *plan.Record) error {
	if b.volume == nil || b.next == nil {
		rec.Summary("no volume mounted: nothing to snapshot")
		return nil
	}
	start := time.Now()
	err := b.volume.WritableTopLevel(func(top string) error { return b.snapshotOn(rec, top) })
	if err != nil {
		rec.Warn("snapshots of the client data: %v; the boot goes on without them", err)
	}
	rec.Fact("snapshot_ms", time.Since(start).Milliseconds())
	if b.volume.Type == storage.FSBtrfs {
		b.warnFull(rec)
	}
	return nil
}

func (b *boot) snapshotOn(rec *plan.Record, top string) error {
	id := b.next.Identity
	tree := treeName(b.next.Source)
	last, err := snapshot.ReadLastBooted(top)
	if err != nil {
		rec.Warn("%v", err)
	}
	names, notice := b.snapshotNames()
	rolled := false
	for _, po := range b.passedOver {
		if b.rollBack(rec, top, po, last, names) {
			rolled = true
		}
	}
	if last.Identity == id {
		rec.Summary("%s (%s) was booted before: no snapshot", tree, snapshot.Short(id))
		return nil
	}
	switch {
	case b.cfg.SnapshotOff:
		rec.Summary("first boot of %s (%s); homestaker.snapshot=off: no snapshot", tree, snapshot.Short(id))
	case rolled:
		rec.Summary("first boot of %s (%s) on the data restored for it: no new snapshot", tree, snapshot.Short(id))
	case len(names) == 0:
		if notice != "" {
			rec.Warn("%s", notice)
		}
		rec.Summary("first boot of %s (%s): nothing to snapshot", tree, snapshot.Short(id))
	default:
		if notice != "" {
			rec.Warn("%s", notice)
		}
		m := snapshot.Manifest{Reason: snapshot.Before + "-" + tree, Tree: tree, Identity: id, DataOf: last.Identity, Version: version}
		t0 := time.Now()
		e, err := snapshot.Take(top, m, names, time.Now())
		if err != nil {
			return fmt.Errorf("taking the snapshots before the first boot of %s: %v", tree, err)
		}
		rec.Fact("snapshot_take_ms", time.Since(t0).Milliseconds())
		rec.Fact("snapshot_set", path.Join(snapshot.Dir, e.Name))
		rec.Printf("read-only snapshots of %s in %s, before the first boot of %s (%s)", strings.Join(names, ", "), path.Join(snapshot.Dir, e.Name), tree, snapshot.Short(id))
		rec.Summary("snapshots of %s in %s", strings.Join(names, ", "), path.Join(snapshot.Dir, e.Name))
	}
	b.prune(rec, top)
	return snapshot.WriteLastBooted(top, snapshot.LastBooted{Identity: id, Tree: tree})
}

// treeName is the name sets give a tree: current, previous, initramfs,
// http.
func treeName(src config.Source) string {
	switch src.Kind {
	case config.SourceVolume:
		return snapshot.TreeName("volume", src.Path)
	case config.SourceHTTP:
		return "http"
	}
	return "initramfs"
}

// snapshotNames are the subvolumes to snapshot: homestaker.snapshot's
// names, or the client data among homestaker.subvols; never the secrets.
// notice says what cannot be snapshotted and what a fallback then means.
func (b *boot) snapshotNames() ([]string, string) {
	if b.cfg.SnapshotOff {
		return nil, ""
	}
	v := b.volume
	want := b.cfg.Snapshot
	if want == nil {
		for _, n := range v.Names[1:] {
			if slices.Contains(snapshot.ClientData, n.Name) {
				want = append(want, n.Name)
			}
		}
	}
	var names, dirs, other []string
	for _, w := range want {
		k, ok := v.Kind(w)
		switch {
		case !ok:
			other = append(other, w+" (not in homestaker.subvols)")
		case w == v.Names[0].Name:
			other = append(other, w+" (the secrets are never snapshotted)")
		case v.Type != storage.FSBtrfs || k != storage.KindSubvolume:
			dirs = append(dirs, w)
		default:
			names = append(names, w)
		}
	}
	const meaning = "if the new image fails and boot counting falls back, the older clients run on the data the new ones left, which they may refuse to open (a re-sync)"
	var notes []string
	if len(dirs) > 0 {
		if v.Type != storage.FSBtrfs {
			notes = append(notes, fmt.Sprintf("the volume is %s, not Btrfs: %s cannot be snapshotted; %s", v.Type, strings.Join(dirs, ", "), meaning))
		} else {
			notes = append(notes, fmt.Sprintf("%s %s, not %s, and cannot be snapshotted; %s (make %s to be safe)", strings.Join(dirs, ", "), isAre(len(dirs)), subvolWord(len(dirs)), meaning, subvolWord(len(dirs))))
		}
	}
	if len(other) > 0 {
		notes = append(notes, "homestaker.snapshot names "+strings.Join(other, ", ")+": not snapshotted")
	}
	return names, strings.Join(notes, "; ")
}

func isAre(n int) string {
	if n == 1 {
		return "is a plain directory"
	}
	return "are plain directories"
}

func subvolWord(n int) string {
	if n == 1 {
		return "a Btrfs subvolume"
	}
	return "Btrfs subvolumes"
}

// rollBack rolls the client data back with the image when boot counting
// gave up the tree po, whose clients last used the data, and a set taken
// before its first boot exists. It reports whether it did.
func (b *boot) rollBack(rec *plan.Record, top string, po *nextstage.PassedOver, last snapshot.LastBooted, names []string) bool {
	tree := treeName(po.Source)
	poID := snapshot.TreeIdentityOnVolume(top, po.Source.Path)
	if last.Tree != tree || (poID != "" && last.Identity != poID) {
		// The data was last used by another tree (this fallback was
		// dealt with at an earlier boot): nothing to undo.
		return false
	}
	if b.cfg.RollbackOff {
		rec.Warn("%s was given up; homestaker.rollback=off: falling back with the image only, the client data stays as %s left it", tree, tree)
		return false
	}
	if len(names) == 0 {
		return false
	}
	sets, err := snapshot.List(top)
	if err != nil {
		rec.Warn("rollback of the client data: %v; falling back with the image only", err)
		return false
	}
	var from *snapshot.Entry
	for i := len(sets) - 1; i >= 0; i-- {
		e := sets[i]
		if e.Kind == snapshot.Before && e.Tree == tree && e.Problem == "" && (poID == "" || e.Manifest.Identity == poID) {
			from = &sets[i]
			break
		}
	}
	if from == nil {
		rec.Warn("%s was given up, and no snapshot set was taken before its first boot: falling back with the image only, the client data stays as %s left it", tree, tree)
		return false
	}
	t0 := time.Now()
	m := snapshot.Manifest{Reason: snapshot.Failed + "-" + tree, Tree: tree, Identity: last.Identity, DataOf: last.Identity, Version: version}
	r, err := snapshot.Prepare(top, *from, names, m, time.Now())
	if err != nil {
		rec.Warn("rollback of the client data refused: %v; falling back with the image only, the client data stays as %s left it", err, tree)
		return false
	}
	if err := b.volume.WithoutSubvolumes(r.Names, r.Swap); err != nil {
		// Part of the swap may have happened: say so, with where both
		// copies are, rather than that the data was rolled back.
		rec.Warn("rollback of the client data to %s did not complete: %v; the data %s left is kept read-only in %s", path.Join(snapshot.Dir, from.Name), err, tree, path.Join(snapshot.Dir, r.Failed.Name))
		return true
	}
	var carried []string
	for _, n := range r.Names {
		for _, p := range r.Carried[n] {
			carried = append(carried, path.Join(n, p.Path)+" ("+p.Client+")")
		}
	}
	if len(carried) == 0 {
		carried = []string{"none found"}
	}
	rec.Fact("rollback", map[string]any{"from": path.Join(snapshot.Dir, from.Name), "failed_kept_in": path.Join(snapshot.Dir, r.Failed.Name), "subvolumes": r.Names, "slashing_protection_carried": carried})
	rec.Fact("rollback_ms", time.Since(t0).Milliseconds())
	rec.Printf("%s was given up: rolled back %s to %s, taken before its first boot; the data %s left is kept read-only in %s; slashing protection carried forward: %s",
		tree, strings.Join(r.Names, ", "), path.Join(snapshot.Dir, from.Name), tree, path.Join(snapshot.Dir, r.Failed.Name), strings.Join(carried, ", "))
	return true
}

// prune deletes the oldest sets beyond homestaker.snapshot.keep.
func (b *boot) prune(rec *plan.Record, top string) {
	sets, err := snapshot.List(top)
	if err != nil {
		rec.Warn("pruning snapshot sets: %v", err)
		return
	}
	cur := snapshot.TreeIdentityOnVolume(top, "/boot/current")
	for _, s := range snapshot.Prune(snapshot.Sets(sets), b.cfg.SnapshotKeep, cur) {
		if err := snapshot.Delete(top, s.Name); err != nil {
			rec.Warn("pruning snapshot sets: %v", err)
			return
		}
		rec.Printf("deleted the snapshot set %s (homestaker.snapshot.keep=%d)", path.Join(snapshot.Dir, s.Name), b.cfg.SnapshotKeep)
	}
}

// warnFull warns when the volume is more than fullPercent full.
func (b *boot) warnFull(rec *plan.Record) {
	var st unix.Statfs_t
	if err := unix.Statfs(storage.TopLevel, &st); err != nil || st.Blocks == 0 {
		return
	}
	used := 100 - int(st.Bavail*100/st.Blocks)
	rec.Fact("volume_used_percent", used)
	if used > fullPercent {
		rec.Warn("the volume is %d%% full: snapshots pin the blocks that the clients rewrite; delete old sets (`homestaker snapshots`, `btrfs subvolume delete`) or lower homestaker.snapshot.keep", used)
	}
}
