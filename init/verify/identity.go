package verify

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"sort"
)

// TreeIdentity names a tree by its verified contents, so that the init
// knows a tree it has not booted before (init/snapshot takes the client
// data's snapshots then): the SHA-256 of its SHA256SUMS when it has one,
// which names every file it uses; else the SHA-256 of the lines
// "HASH  NAME" of its files (script, kernel, initrd) in name order. files
// is only read (with ReadAt) when sums is nil. The same tree has the same
// identity on the volume, in the initramfs and over http.
func TreeIdentity(sums []byte, files map[string]*os.File) (string, error) {
	if sums != nil {
		h := sha256.Sum256(sums)
		return hex.EncodeToString(h[:]), nil
	}
	var names []string
	for n := range files {
		names = append(names, n)
	}
	sort.Strings(names)
	h := sha256.New()
	for _, n := range names {
		sum, _, err := HashFile(files[n])
		if err != nil {
			return "", fmt.Errorf("hashing %s for the tree's identity: %v", n, err)
		}
		fmt.Fprintf(h, "%x  %s\n", sum, n)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
