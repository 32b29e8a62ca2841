// Package snapshot keeps the client data safe across updates of the next
// stage: read-only Btrfs snapshots of the client data subvolumes before a
// new tree's first boot, and the rollback of that data, slashing
// protection excepted, when boot counting gives the tree up. The init and
// the homestaker CLI call the same code; see README.md, "Updates".
package snapshot

import (
	"fmt"
	"strings"
	"time"
)

// Dir is where the sets live, on the volume's top level.
const Dir = "snapshots"

// timeLayout is a set name's time: UTC, to the second, sortable.
const timeLayout = "20060102T150405Z"

// Kinds of set.
const (
	Before = "before" // taken before a tree's first boot
	Failed = "failed" // the live data a rollback replaced
	Manual = "manual" // `homestaker snapshot`
)

// ClientData are the names of homestaker.subvols that hold execution or
// consensus client data, snapshotted by default. The secrets subvolume and
// add-ons (SSV keeps its own slashing protection) are not among them.
var ClientData = []string{"erigon", "geth", "nethermind", "besu", "reth", "lighthouse", "prysm", "teku", "nimbus", "lodestar"}

// Set is one set's name, read: 20261202T100500Z-before-current-0123456789ab.
type Set struct {
	Name  string
	Time  time.Time
	Kind  string // Before, Failed or Manual
	Tree  string // the tree's name (current, previous, initramfs, http); "" for Manual
	Short string // the first 12 hex digits of the tree's identity; "" for Manual
}

// Reason is "before-current", "failed-current" or "manual".
func (s Set) Reason() string {
	if s.Kind == Manual {
		return Manual
	}
	return s.Kind + "-" + s.Tree
}

// TreeName is the name a set gives the tree at src (a volume directory, a
// URL or the initramfs): its last path element for a volume tree, with
// anything but letters, digits, '.' and '_' replaced by '_' so that the
// set's name parses back.
func TreeName(kind, p string) string {
	if kind != "volume" {
		return kind
	}
	p = strings.TrimRight(p, "/")
	if i := strings.LastIndexByte(p, '/'); i >= 0 {
		p = p[i+1:]
	}
	var b strings.Builder
	for _, r := range p {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '_' {
			b.WriteRune(r)
		} else {
			b.WriteByte('_')
		}
	}
	if b.Len() == 0 {
		return "root"
	}
	return b.String()
}

// Short is an identity's first 12 hex digits.
func Short(identity string) string {
	if len(identity) > 12 {
		return identity[:12]
	}
	return identity
}

// FormatName is the name of a set of kind taken at t before (or after
// the failure of) the tree with that name and identity.
func FormatName(t time.Time, kind, tree, identity string) string {
	ts := t.UTC().Format(timeLayout)
	if kind == Manual {
		return ts + "-" + Manual
	}
	id := Short(identity)
	if id == "" {
		id = "unknown"
	}
	return ts + "-" + kind + "-" + tree + "-" + id
}

// ParseName reads a set's name; an error says what is wrong with it, for
// a directory under snapshots/ that is not a set.
func ParseName(name string) (Set, error) {
	s := Set{Name: name}
	ts, rest, ok := strings.Cut(name, "-")
	if !ok {
		return s, fmt.Errorf("%q is not a snapshot set name (TIME-before-TREE-ID, TIME-failed-TREE-ID or TIME-manual)", name)
	}
	t, err := time.Parse(timeLayout, ts)
	if err != nil {
		return s, fmt.Errorf("%q is not a snapshot set name: %q is not a time like 20261202T100500Z", name, ts)
	}
	s.Time = t
	if rest == Manual {
		s.Kind = Manual
		return s, nil
	}
	parts := strings.Split(rest, "-")
	if len(parts) != 3 || (parts[0] != Before && parts[0] != Failed) || parts[1] == "" || parts[2] == "" {
		return s, fmt.Errorf("%q is not a snapshot set name: after the time comes before-TREE-ID, failed-TREE-ID or manual", name)
	}
	s.Kind, s.Tree, s.Short = parts[0], parts[1], parts[2]
	return s, nil
}
