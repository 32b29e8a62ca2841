package vmtest

import (
	"crypto/rand"
	"crypto/sha256"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// dataSubvolumes hold the clients' chain data: no boot, however it fails,
// may change a file in them.
var dataSubvolumes = []string{"erigon", "lighthouse"}

// SeedData writes chain-data-like files into the data subvolumes: random
// contents, some large, some nested, as a synced node has.
func (d *Disk) SeedData() {
	d.t.Helper()
	files := map[string]int{
		"erigon/chaindata/mdbx.dat":                        2 << 20,
		"erigon/chaindata/mdbx.lck":                        4096,
		"erigon/nodes/eth68/mdbx.dat":                      64 << 10,
		"erigon/snapshots/v1-000000-000500-headers.seg":    512 << 10,
		"lighthouse/beacon/chain_db/000123.ldb":            1 << 20,
		"lighthouse/beacon/freezer_db/CURRENT":             16,
		"lighthouse/validators/slashing_protection.sqlite": 128 << 10,
	}
	d.Edit(func(top string) {
		for rel, size := range files {
			p := filepath.Join(top, rel)
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				d.t.Fatal(err)
			}
			f, err := os.Create(p)
			if err != nil {
				d.t.Fatal(err)
			}
			if _, err := io.CopyN(f, rand.Reader, int64(size)); err != nil {
				d.t.Fatal(err)
			}
			if err := f.Close(); err != nil {
				d.t.Fatal(err)
			}
		}
	})
}

// DataDigest is one line per file, directory and link in the data
// subvolumes (path and mode; for files and links also size, modification
// time and the SHA-256 of the contents), except the names in skip (a jwt.hex the operator replaced on
// purpose, say). Two digests differ when anything in them changed.
func (d *Disk) DataDigest(skip ...string) []string {
	d.t.Helper()
	var lines []string
	d.Edit(func(top string) {
		for _, sub := range dataSubvolumes {
			root := filepath.Join(top, sub)
			err := filepath.WalkDir(root, func(p string, e fs.DirEntry, err error) error {
				if err != nil {
					return err
				}
				rel, _ := filepath.Rel(top, p)
				for _, s := range skip {
					if rel == s {
						return nil
					}
				}
				fi, err := e.Info()
				if err != nil {
					return err
				}
				sum := ""
				if fi.Mode().IsRegular() {
					b, err := os.ReadFile(p)
					if err != nil {
						return err
					}
					sum = fmt.Sprintf("%x", sha256.Sum256(b))
				}
				if !fi.IsDir() {
					lines = append(lines, fmt.Sprintf("%s %v %d %d %s", rel, fi.Mode(), fi.Size(), fi.ModTime().UnixNano(), sum))
				} else {
					lines = append(lines, fmt.Sprintf("%s %v %s", rel, fi.Mode(), "dir"))
				}
				return nil
			})
			if err != nil {
				d.t.Fatalf("reading %s: %v", sub, err)
			}
		}
	})
	sort.Strings(lines)
	if len(lines) < 5 {
		d.t.Fatalf("the data subvolumes hold %d entries; seed them with SeedData first", len(lines))
	}
	return lines
}

// AssertDataUnchanged fails the test when the data subvolumes differ from
// before (a digest from DataDigest with the same skip list).
func (d *Disk) AssertDataUnchanged(before []string, skip ...string) {
	d.t.Helper()
	after := d.DataDigest(skip...)
	if strings.Join(before, "\n") == strings.Join(after, "\n") {
		return
	}
	was := map[string]bool{}
	for _, l := range before {
		was[l] = true
	}
	is := map[string]bool{}
	for _, l := range after {
		is[l] = true
		if !was[l] {
			d.t.Errorf("data subvolume changed: now %s", l)
		}
	}
	for _, l := range before {
		if !is[l] {
			d.t.Errorf("data subvolume changed: was %s", l)
		}
	}
}
