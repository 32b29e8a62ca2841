// Package nextstage finds the HomestakerOS kexec tree to boot, reads what
// it asks for and opens its kernel and initrd for the handover.
package nextstage

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/homestaker/homestaker-boot/init/config"
	"github.com/homestaker/homestaker-boot/init/kexectree"
	"github.com/homestaker/homestaker-boot/init/report"
)

// Loaded is a next stage ready for the handover. The files stay open so
// that what is handed to the kernel is what was read and checked.
type Loaded struct {
	Source config.Source
	Dir    string
	Tree   kexectree.Tree
	Kernel *os.File
	Initrd *os.File // nil when the tree has none
}

// Close closes the files.
func (l *Loaded) Close() {
	l.Kernel.Close()
	if l.Initrd != nil {
		l.Initrd.Close()
	}
}

// Locate tries the sources in order and returns the first that holds a
// valid tree. volume is where the Btrfs top level is mounted ("" when
// there is none). Each failed source is reported through skip before the
// next is tried, so that a fallback never happens silently.
func Locate(ctx context.Context, sources []config.Source, volume string, skip func(src config.Source, err error)) (*Loaded, error) {
	var tried []string
	for _, src := range sources {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		l, err := load(src, volume)
		if err == nil {
			return l, nil
		}
		tried = append(tried, fmt.Sprintf("%s: %v", src, err))
		if skip != nil {
			skip(src, err)
		}
	}
	return nil, report.Fail(
		"a HomestakerOS kexec tree (kexec-boot or netboot.ipxe, with its kernel and initrd) at "+sourceList(sources),
		strings.Join(tried, "\n"),
		"install one with `homestaker install-next`, or point homestaker.next= at a directory that has one")
}

func sourceList(sources []config.Source) string {
	var s []string
	for _, src := range sources {
		s = append(s, src.String())
	}
	return strings.Join(s, ", ")
}

func load(src config.Source, volume string) (*Loaded, error) {
	switch src.Kind {
	case config.SourceInitramfs:
		return loadDir(src, src.Path)
	case config.SourceVolume:
		if volume == "" {
			return nil, fmt.Errorf("the volume is not mounted")
		}
		return loadDir(src, filepath.Join(volume, src.Path))
	default:
		// HTTP sources come with the network stage; until then say so
		// rather than pretend to look.
		return nil, fmt.Errorf("%s sources are not supported by this build yet", src.Kind)
	}
}

// loadDir reads a tree from a local directory.
func loadDir(src config.Source, dir string) (*Loaded, error) {
	tree, err := readTree(dir)
	if err != nil {
		return nil, err
	}
	l := &Loaded{Source: src, Dir: dir, Tree: tree}
	if l.Kernel, err = os.Open(filepath.Join(dir, tree.Kernel)); err != nil {
		return nil, fmt.Errorf("kernel named by %s: %v", tree.From, err)
	}
	if tree.Initrd != "" {
		if l.Initrd, err = os.Open(filepath.Join(dir, tree.Initrd)); err != nil {
			l.Kernel.Close()
			return nil, fmt.Errorf("initrd named by %s: %v", tree.From, err)
		}
	}
	return l, nil
}

// readTree parses kexec-boot, or netboot.ipxe when there is no kexec-boot.
func readTree(dir string) (kexectree.Tree, error) {
	name := filepath.Join(dir, "kexec-boot")
	b, err := os.ReadFile(name)
	if err == nil {
		return kexectree.ParseKexecBoot(name, b)
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return kexectree.Tree{}, err
	}
	ipxe := filepath.Join(dir, "netboot.ipxe")
	b, err = os.ReadFile(ipxe)
	if errors.Is(err, fs.ErrNotExist) {
		return kexectree.Tree{}, fmt.Errorf("no kexec-boot or netboot.ipxe in %s", dir)
	}
	if err != nil {
		return kexectree.Tree{}, err
	}
	vars, err := os.ReadFile(filepath.Join(dir, "variables.ipxe"))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return kexectree.Tree{}, err
	}
	return kexectree.ParseIPXE(ipxe, b, vars)
}
