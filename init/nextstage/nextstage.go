// Package nextstage finds the HomestakerOS kexec tree to boot, verifies it
// and opens its kernel and initrd for the handover: the files checked are
// the files loaded, from the same open descriptors.
package nextstage

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/netip"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"

	"github.com/homestaker/homestaker-boot/init/bootcount"
	"github.com/homestaker/homestaker-boot/init/config"
	"github.com/homestaker/homestaker-boot/init/fetch"
	"github.com/homestaker/homestaker-boot/init/kexectree"
	"github.com/homestaker/homestaker-boot/init/report"
	"github.com/homestaker/homestaker-boot/init/verify"
	"github.com/homestaker/homestaker-boot/init/volfile"
)

// Env is what sources need besides their own address.
type Env struct {
	Volume   string // where the Btrfs top level is mounted; "" when none
	Mode     config.VerifyMode
	Keys     []verify.TrustedKey
	HTTP     *http.Client
	TmpDir   string // tmpfs for downloads
	Progress func(fetch.Progress)
	// Tries is homestaker.tries: a volume tree booted this many times
	// without a success mark is passed over when another source follows
	// it. 0 turns boot counting off.
	Tries int
	// ReachTimeout is how long an HTTP source may not answer before the
	// next source is tried; 0 is 30 s.
	ReachTimeout time.Duration
	// Count writes a counted tree's boot count, s.Count+1, on the volume
	// (the init remounts it writable for that) and says whether it did (a
	// retry of the same boot does not count again); nil counts nothing.
	Count func(src config.Source, s bootcount.State) (bool, error)
	// ThroughTunnel reports whether the kernel routes traffic to an
	// address through the WireGuard tunnel, whose device is
	// TunnelDevice; nil when there is no tunnel. Plain http outside it
	// boots only a signed tree (see channel).
	ThroughTunnel func(netip.Addr) bool
	TunnelDevice  string
}

// Loaded is a verified next stage ready for the handover.
type Loaded struct {
	Source   config.Source
	Dir      string // the tree's directory or URL
	Tree     kexectree.Tree
	Kernel   *os.File
	Initrd   *os.File // nil when the tree has none
	Verified verify.Result
	// Count is the tree's boot count when it is counted (a volume tree
	// with a fallback after it and not yet marked good), this boot
	// included: Env.Count wrote it when the tree was chosen.
	Count *bootcount.State
	// Identity names the tree by its contents (verify.TreeIdentity): a
	// tree of a new identity gets the client data snapshotted first.
	Identity string
	temp     []string // downloads to delete once the kernel has its copy
}

// Close closes the files and deletes downloads: after kexec_file_load the
// kernel holds its own copy, and tmpfs is RAM the next stage needs.
func (l *Loaded) Close() {
	if l.Kernel != nil {
		l.Kernel.Close()
	}
	if l.Initrd != nil {
		l.Initrd.Close()
	}
	for _, p := range l.temp {
		os.Remove(p)
	}
	l.temp = nil
}

// Locate tries the sources in order and returns the first that holds a
// valid, verified tree. Each refused source is reported through skip
// before the next is tried, so that a fallback never happens silently.
func Locate(ctx context.Context, sources []config.Source, env Env, skip func(src config.Source, err error)) (*Loaded, error) {
	var tried []string
	for i, src := range sources {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		// A tree is counted when it is chosen, before its files are read:
		// one that hangs the boot or kills the init is given up after
		// homestaker.tries like one that boots badly.
		var count *bootcount.State
		var err error
		if counted(src, i, len(sources), env) {
			count, err = chooseCounted(src, env)
		}
		var l *Loaded
		if err == nil {
			l, err = load(ctx, src, env)
		}
		if err == nil {
			l.Count = count
			return l, nil
		}
		tried = append(tried, fmt.Sprintf("%s: %v", src, err))
		if skip != nil {
			skip(src, err)
		}
	}
	return nil, report.Fail(
		"a verified HomestakerOS kexec tree (kexec-boot or netboot.ipxe, with its kernel and initrd) at "+sourceList(sources),
		strings.Join(tried, "\n"),
		"install one with `homestaker install-next`, or point homestaker.next= at a directory that has one")
}

// counted reports whether boots of src are counted: trees on the volume,
// when a later source can take over from them.
func counted(src config.Source, i, n int, env Env) bool {
	return env.Tries > 0 && src.Kind == config.SourceVolume && i < n-1
}

// chooseCounted reads a counted tree's state, refuses it when it has used
// its tries, and counts this boot through env.Count unless it is marked
// good. The state returned includes this boot.
func chooseCounted(src config.Source, env Env) (*bootcount.State, error) {
	root, err := os.OpenRoot(env.Volume)
	if err != nil {
		return nil, err
	}
	defer root.Close()
	s, err := bootcount.Read(root, strings.TrimPrefix(path.Clean(src.Path), "/"), filepath.Join(env.Volume, src.Path))
	if err != nil {
		return nil, err
	}
	if s.Exhausted(env.Tries) {
		return nil, &PassedOver{Source: src, State: s, Tries: env.Tries}
	}
	if s.OK {
		return nil, nil
	}
	if env.Count != nil {
		counted, err := env.Count(src, s)
		if err != nil {
			return nil, fmt.Errorf("counting this boot: %v; without the count a tree that hangs is never given up, so it is not booted", err)
		}
		if counted {
			s.Count++
		}
	}
	return &s, nil
}

// PassedOver is the refusal of a volume tree that used its tries: boot
// counting falls back past it (and init/snapshot may roll the client data
// back with it).
type PassedOver struct {
	Source config.Source
	State  bootcount.State
	Tries  int
}

func (p *PassedOver) Error() string { return p.State.Why(p.Tries) }

func sourceList(sources []config.Source) string {
	var s []string
	for _, src := range sources {
		s = append(s, src.String())
	}
	return strings.Join(s, ", ")
}

func load(ctx context.Context, src config.Source, env Env) (*Loaded, error) {
	switch src.Kind {
	case config.SourceInitramfs:
		return loadDir(src, "/", env)
	case config.SourceVolume:
		if env.Volume == "" {
			return nil, fmt.Errorf("the volume is not mounted")
		}
		return loadDir(src, env.Volume, env)
	case config.SourceHTTP:
		return loadHTTP(ctx, src, env)
	}
	return nil, fmt.Errorf("unknown source kind %v", src.Kind)
}

// treeDir is a tree's directory, read through a handle rooted at the
// volume (or the initramfs): see volfile.
type treeDir struct {
	root    *os.Root
	rel     string // the directory, relative to root
	display string // the directory as the operator knows it
}

func (d treeDir) open(name string) (*os.File, error) {
	f, _, err := volfile.Open(d.root, path.Join(d.rel, name), filepath.Join(d.display, name))
	return f, err
}

// readOptional reads a small file of the tree; nil when it has none.
func (d treeDir) readOptional(name string) ([]byte, error) {
	b, err := volfile.ReadFile(d.root, path.Join(d.rel, name), filepath.Join(d.display, name), scriptLimit)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	return b, err
}

// loadDir reads, opens and verifies the tree at src.Path under top (the
// volume's top level, or / for the initramfs).
func loadDir(src config.Source, top string, env Env) (*Loaded, error) {
	root, err := os.OpenRoot(top)
	if err != nil {
		return nil, err
	}
	defer root.Close() // the files opened through it stay open
	d := treeDir{root: root, rel: strings.TrimPrefix(path.Clean(src.Path), "/"), display: filepath.Join(top, src.Path)}
	if d.rel == "" {
		d.rel = "."
	}
	dir := d.display
	files := map[string]*os.File{}
	tree, err := openTree(d, files)
	defer closeScripts(files, tree)
	if err != nil {
		return nil, err
	}
	var scripts []string
	for name := range files {
		scripts = append(scripts, name)
	}
	if err := tree.CheckNames(scripts, []string{verify.SumsFile, verify.SigFile}); err != nil {
		return nil, err
	}
	l := &Loaded{Source: src, Dir: dir, Tree: tree}
	if l.Kernel, err = d.open(tree.Kernel); err != nil {
		return nil, fmt.Errorf("kernel named by %s: %v", tree.From, err)
	}
	files[tree.Kernel] = l.Kernel
	if tree.Initrd != "" {
		if l.Initrd, err = d.open(tree.Initrd); err != nil {
			l.Close()
			return nil, fmt.Errorf("initrd named by %s: %v", tree.From, err)
		}
		files[tree.Initrd] = l.Initrd
	}
	sums, err1 := d.readOptional(verify.SumsFile)
	sig, err2 := d.readOptional(verify.SigFile)
	if err := errors.Join(err1, err2); err != nil {
		l.Close()
		return nil, err
	}
	if l.Verified, err = verify.Check(env.Mode, env.Keys, sums, sig, files); err != nil {
		l.Close()
		return nil, err
	}
	if l.Identity, err = verify.TreeIdentity(sums, files); err != nil {
		l.Close()
		return nil, err
	}
	l.Verified.Channel = onVolume.name
	if src.Kind == config.SourceInitramfs {
		l.Verified.Channel = inInitramfs.name
	}
	if err := kexectree.CheckKernel(filepath.Join(dir, tree.Kernel), l.Kernel); err != nil {
		l.Close()
		return nil, err
	}
	return l, nil
}

// closeScripts closes the script files; the kernel and initrd stay open
// for the handover.
func closeScripts(files map[string]*os.File, tree kexectree.Tree) {
	for name, f := range files {
		if name != tree.Kernel && name != tree.Initrd {
			f.Close()
		}
	}
}

// openTree opens and parses kexec-boot, or netboot.ipxe (with
// variables.ipxe) when there is no kexec-boot. The scripts are read from
// the descriptors left in files, which are the ones verified: what is
// checked is what was parsed.
func openTree(d treeDir, files map[string]*os.File) (kexectree.Tree, error) {
	script, err := openRead(d, "kexec-boot", files)
	if err == nil {
		return kexectree.ParseKexecBoot(filepath.Join(d.display, "kexec-boot"), script)
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return kexectree.Tree{}, err
	}
	script, err = openRead(d, "netboot.ipxe", files)
	if errors.Is(err, fs.ErrNotExist) {
		return kexectree.Tree{}, fmt.Errorf("no kexec-boot or netboot.ipxe in %s", d.display)
	}
	if err != nil {
		return kexectree.Tree{}, err
	}
	vars, err := openRead(d, "variables.ipxe", files)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return kexectree.Tree{}, err
	}
	return kexectree.ParseIPXE(filepath.Join(d.display, "netboot.ipxe"), script, vars)
}

// openRead opens a script into files and reads it from that descriptor.
func openRead(d treeDir, name string, files map[string]*os.File) ([]byte, error) {
	f, err := d.open(name)
	if err != nil {
		return nil, err
	}
	files[name] = f
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if st.Size() > scriptLimit {
		return nil, fmt.Errorf("%s is %d bytes; a kexec tree's script is small", filepath.Join(d.display, name), st.Size())
	}
	return io.ReadAll(io.NewSectionReader(f, 0, st.Size()))
}
