package snapshot

import (
	"encoding/json"
	"fmt"
	"slices"
	"time"
)

// ManifestFile is a set's manifest, beside its snapshots.
const ManifestFile = "manifest.json"

// Manifest says what a set is: which tree, which subvolumes, when, why.
type Manifest struct {
	Reason string `json:"reason"` // before-current, failed-current, manual
	Tree   string `json:"tree"`   // the tree's name; "" for a manual set
	// Identity is the tree's identity (see verify.TreeIdentity): for a
	// before- set the tree about to boot for the first time, for a
	// failed- set the tree given up.
	Identity string `json:"identity,omitempty"`
	// DataOf is the identity of the tree last booted when the set was
	// taken: the tree whose clients wrote this data, the one a rollback
	// to the set boots again.
	DataOf     string    `json:"data_of,omitempty"`
	Subvolumes []string  `json:"subvolumes"`
	Time       time.Time `json:"time"`
	Version    string    `json:"init_version"`
}

// Marshal is the manifest's file content.
func (m Manifest) Marshal() []byte {
	b, _ := json.MarshalIndent(m, "", "  ") // only strings, a slice and a time
	return append(b, '\n')
}

// ParseManifest reads a manifest and checks that it names its snapshots
// with plain names.
func ParseManifest(b []byte) (Manifest, error) {
	var m Manifest
	if err := json.Unmarshal(b, &m); err != nil {
		return m, fmt.Errorf("%s: %v", ManifestFile, err)
	}
	for _, n := range m.Subvolumes {
		if n == "" || n == "." || n == ".." || slices.Contains([]byte(n), '/') {
			return m, fmt.Errorf("%s: subvolume %q is not a plain name", ManifestFile, n)
		}
	}
	return m, nil
}
