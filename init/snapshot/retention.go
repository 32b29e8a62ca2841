package snapshot

import "sort"

// Prune chooses the sets to delete so that at most keep remain, oldest
// first. It never chooses the newest before- set of the tree in
// /boot/current (currentIdentity; when unknown, the newest before-current
// set) nor the newest failed- set: the one is what a fallback of the
// running tree rolls back to, the other the only copy of what a failed
// tree left.
func Prune(sets []Set, keep int, currentIdentity string) []Set {
	sorted := append([]Set(nil), sets...)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i].Time.Before(sorted[j].Time) })
	protected := map[string]bool{}
	for i := len(sorted) - 1; i >= 0; i-- {
		if sorted[i].Kind == Failed {
			protected[sorted[i].Name] = true
			break
		}
	}
	for i := len(sorted) - 1; i >= 0; i-- {
		s := sorted[i]
		if s.Kind == Before && s.Tree == "current" && (currentIdentity == "" || s.Short == Short(currentIdentity)) {
			protected[s.Name] = true
			break
		}
	}
	var del []Set
	left := len(sorted)
	for _, s := range sorted {
		if left <= keep {
			break
		}
		if protected[s.Name] {
			continue
		}
		del = append(del, s)
		left--
	}
	return del
}
