// Package bootcount keeps the count of boots of a next-stage tree that
// have not been marked good, so that a bad update falls back to the tree
// before it by itself: the idea of systemd-boot's boot counting, for RAM
// images on the volume.
//
// The init increments CountFile in the tree's directory before it jumps
// into the tree. HomestakerOS writes SuccessFile there once it is up (the
// tree's directory is on its command line as homestaker.tree=). A tree
// booted Tries times without the mark is passed over for the next source.
package bootcount

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/homestaker/homestaker-boot/init/atomicfile"
	"github.com/homestaker/homestaker-boot/init/english"
	"github.com/homestaker/homestaker-boot/init/volfile"
)

const (
	// CountFile holds the number of boots without a success mark.
	CountFile = "boot-count"
	// SuccessFile marks the tree good; its content does not matter.
	SuccessFile = "booted-ok"
)

// State is a tree's boot count.
type State struct {
	Count int  // boots so far without a success mark
	OK    bool // SuccessFile exists: the tree is known good
}

// Read reads the state of the tree at rel under root (the volume, read as
// volfile reads it: display names it in messages). A missing count is 0; an
// unreadable one is an error naming the file, so that a damaged counter
// never silently resets.
func Read(root *os.Root, rel, display string) (State, error) {
	var s State
	if f, _, err := volfile.Open(root, path.Join(rel, SuccessFile), path.Join(display, SuccessFile)); err == nil {
		f.Close()
		s.OK = true
	} else if !errors.Is(err, fs.ErrNotExist) {
		return s, err
	}
	p := path.Join(display, CountFile)
	b, err := volfile.ReadFile(root, path.Join(rel, CountFile), p, 64)
	if errors.Is(err, fs.ErrNotExist) {
		return s, nil
	}
	if err != nil {
		return s, err
	}
	n, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || n < 0 {
		return s, fmt.Errorf("%s holds %q, not a count of boots; delete it to start counting again", p, strings.TrimSpace(string(b)))
	}
	s.Count = n
	return s, nil
}

// Exhausted reports whether a tree in state s has used its tries.
func (s State) Exhausted(tries int) bool {
	return !s.OK && s.Count >= tries
}

// Why says why an exhausted tree is passed over, for the console.
func (s State) Why(tries int) string {
	return fmt.Sprintf("booted %d %s without a success mark (%s; homestaker.tries=%d)", s.Count, english.Plural(s.Count, "time", "times"), SuccessFile, tries)
}

// Increment writes s's count plus one into the tree's directory d,
// durably (written to a temporary file, fsynced, renamed): a power cut
// during the boot it counts must not lose it. It returns the new count.
func Increment(d *atomicfile.Dir, s State) (int, error) {
	n := s.Count + 1
	// Written to a temporary file, fsynced, renamed, the directory fsynced.
	if err := d.WriteFile(CountFile, []byte(strconv.Itoa(n)+"\n"), 0o644); err != nil {
		return 0, err
	}
	return n, nil
}

// Reset deletes the count and the success mark of the tree in dir: a
// newly installed tree starts with all its tries.
func Reset(dir string) error {
	for _, name := range []string{CountFile, SuccessFile} {
		if err := os.Remove(filepath.Join(dir, name)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
	}
	return atomicfile.SyncDir(dir)
}
