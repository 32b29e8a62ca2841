package handover

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/homestaker/homestaker-boot/init/config"
	"github.com/homestaker/homestaker-boot/init/initrd"
	"github.com/homestaker/homestaker-boot/init/report"
)

// NewRoot is where SwitchRoot builds the next stage's root: a directory
// in the initramfs's own rootfs, outside every mount it moves (so not
// under /run).
const NewRoot = "/newroot"

// newRootOptions: the unpacked initrd lives in RAM; 80% of it (tmpfs
// counts percentages of RAM) leaves the kernel room while allowing a
// multi-GB initrd. The next stage may remount it.
const newRootOptions = "mode=0755,size=80%"

// CmdlineFile is where the next stage finds the tree's command line; it
// is also in its environment as HOMESTAKER_CMDLINE.
const CmdlineFile = "run/homestaker/cmdline"

// SwitchRoot starts a next stage built for the bootstrap's own kernel
// without kexec: it unpacks initrd into a tmpfs at NewRoot, moves the
// mounts named in moves (/dev, /proc, /sys, /run, the volume's subvolume
// mounts) to the same paths in it, writes files (names relative to the new
// root, e.g. "run/homestaker/report.json") and CmdlineFile, makes it the
// root and execs its init as PID 1. Mounts not in moves stay behind,
// unreachable: unmount them first.
//
// The kernel's command line cannot change without kexec: the next stage's
// /proc/cmdline is the one the bootstrap booted with. The tree's command
// line picks the init (init=, else rdinit=, else /init, then /sbin/init;
// the first that exists in the initrd) and is handed over in CmdlineFile
// and HOMESTAKER_CMDLINE; a stage that reads only /proc/cmdline sees the
// bootstrap's. So switchroot suits a next stage made for this kernel and
// its command line.
//
// SwitchRoot returns only on failure, as a report.Failure. Before the
// moves a failure leaves everything as it was; after them it says whether
// the mounts could be moved back.
func SwitchRoot(initrd *os.File, cmdline string, moves []string, files map[string][]byte) error {
	s := &switchRoot{newRoot: NewRoot, initrd: initrd, cmdline: cmdline, moves: moves, files: files, pid1: os.Getpid() == 1}
	return s.run()
}

type switchRoot struct {
	newRoot string
	initrd  *os.File
	cmdline string
	moves   []string
	files   map[string][]byte
	pid1    bool // free the old rootfs: only as the real PID 1, never in tests

	moved []string // done so far, to move back on failure
}

func (s *switchRoot) run() error {
	moves, err := moveOrder(s.moves, s.newRoot)
	if err != nil {
		return s.fail("checking the mounts to move", err)
	}
	// A mount under a shared parent cannot be moved; the bootstrap needs
	// no propagation.
	if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
		return s.fail("making the mounts private", err)
	}
	if err := os.Mkdir(s.newRoot, 0o755); err != nil && !errors.Is(err, os.ErrExist) {
		return s.fail("creating "+s.newRoot, err)
	}
	if err := unix.Mount("newroot", s.newRoot, "tmpfs", 0, newRootOptions); err != nil {
		return s.fail("tmpfs on "+s.newRoot, err)
	}
	st, err := s.initrd.Stat()
	if err != nil {
		return s.undoTmpfs(s.fail("reading the initrd", err))
	}
	if err := initrd.Unpack(s.initrd, st.Size(), s.newRoot); err != nil {
		return s.undoTmpfs(s.fail(fmt.Sprintf("unpacking %s into %s", s.initrd.Name(), s.newRoot), err))
	}
	init, err := findInit(s.newRoot, s.cmdline)
	if err != nil {
		return s.undoTmpfs(s.fail("finding the next stage's init", err))
	}
	for _, m := range moves {
		if err := s.move(m); err != nil {
			return s.undoMoves(s.fail("moving "+m+" into the new root", err))
		}
	}
	if err := s.writeFiles(); err != nil {
		return s.undoMoves(s.fail("writing into the new root", err))
	}
	return s.enter(init)
}

// enter makes the new root "/" and execs init. Nothing can be undone from
// here on.
func (s *switchRoot) enter(init string) error {
	var oldRoot *os.File
	if s.pid1 && isInitramfs("/") {
		// Opened before the move, emptied after it: should the move
		// fail, the old root is still whole.
		oldRoot, _ = os.Open("/")
	}
	if err := unix.Chdir(s.newRoot); err != nil {
		closeFile(oldRoot)
		return s.undoMoves(s.fail("chdir "+s.newRoot, err))
	}
	if err := unix.Mount(".", "/", "", unix.MS_MOVE, ""); err != nil {
		closeFile(oldRoot)
		unix.Chdir("/")
		return s.undoMoves(s.fail("moving "+s.newRoot+" onto /", err))
	}
	if err := unix.Chroot("."); err != nil {
		return s.failAfter("chroot", err)
	}
	if err := unix.Chdir("/"); err != nil {
		return s.failAfter("chdir /", err)
	}
	if oldRoot != nil {
		// The initramfs's files are RAM the next stage would never get
		// back.
		deleteTree(int(oldRoot.Fd()))
		oldRoot.Close()
	}
	env := []string{"HOME=/", "TERM=linux", "HOMESTAKER_CMDLINE=" + s.cmdline}
	err := unix.Exec(init, []string{init}, env)
	return s.failAfter("exec "+init, err)
}

func (s *switchRoot) move(m string) error {
	root, err := os.OpenRoot(s.newRoot)
	if err != nil {
		return err
	}
	defer root.Close()
	// Through root: a symlink in the initrd cannot send the mount out of
	// the new root.
	rel := strings.TrimPrefix(m, "/")
	if err := root.MkdirAll(rel, 0o755); err != nil {
		return err
	}
	if err := unix.Mount(m, filepath.Join(s.newRoot, rel), "", unix.MS_MOVE, ""); err != nil {
		return err
	}
	s.moved = append(s.moved, m)
	return nil
}

func (s *switchRoot) writeFiles() error {
	root, err := os.OpenRoot(s.newRoot)
	if err != nil {
		return err
	}
	defer root.Close()
	files := map[string][]byte{CmdlineFile: []byte(s.cmdline + "\n")}
	for name, data := range s.files {
		files[strings.TrimPrefix(name, "/")] = data
	}
	for _, name := range slices.Sorted(maps.Keys(files)) {
		if err := root.MkdirAll(path.Dir(name), 0o755); err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		if err := root.WriteFile(name, files[name], 0o644); err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
	}
	return nil
}

const (
	switchExpected = "the next stage's initrd to switch_root into"
	actionBefore   = "check the tree's initrd and command line, or boot with homestaker.handover=kexec"
)

func (s *switchRoot) fail(step string, err error) *report.Failure {
	return report.Fail(switchExpected, fmt.Sprintf("%s: %v", step, err), actionBefore)
}

func (s *switchRoot) failAfter(step string, err error) error {
	return report.Fail(switchExpected,
		fmt.Sprintf("%s: %v; the bootstrap's mounts and root were already handed to the new root, which cannot be undone", step, err),
		"reboot the machine; if it repeats, boot with homestaker.handover=kexec")
}

// undoTmpfs removes the new root when nothing was moved into it yet.
func (s *switchRoot) undoTmpfs(f *report.Failure) error {
	if err := unix.Unmount(s.newRoot, unix.MNT_DETACH); err == nil {
		os.Remove(s.newRoot)
	}
	return f
}

// undoMoves moves the mounts back where they were, deepest last moved
// first; only if they all go back is the failure harmless.
func (s *switchRoot) undoMoves(f *report.Failure) error {
	var stuck []string
	for i := len(s.moved) - 1; i >= 0; i-- {
		m := s.moved[i]
		if err := unix.Mount(filepath.Join(s.newRoot, m), m, "", unix.MS_MOVE, ""); err != nil {
			stuck = append(stuck, m)
		}
	}
	s.moved = nil
	if len(stuck) > 0 {
		f.Found += fmt.Sprintf("; %s could not be moved back from %s, which cannot be undone", strings.Join(stuck, ", "), s.newRoot)
		f.Action = "reboot the machine; if it repeats, boot with homestaker.handover=kexec"
		return f
	}
	return s.undoTmpfs(f)
}

// moveOrder checks the mount points to move and orders them parents first.
// MS_MOVE takes a mount with everything mounted below it, so a path below
// another in the list has gone with it and is dropped; moving it first
// instead would leave it hidden under its parent's mount.
func moveOrder(moves []string, newRoot string) ([]string, error) {
	var out []string
	for _, m := range moves {
		if !path.IsAbs(m) || path.Clean(m) != m || m == "/" {
			return nil, fmt.Errorf("%q: a mount to move must be a clean absolute path other than /", m)
		}
		if m == newRoot || strings.HasPrefix(newRoot, m+"/") || strings.HasPrefix(m, newRoot+"/") {
			return nil, fmt.Errorf("%q: the new root %s cannot be moved into itself", m, newRoot)
		}
		out = append(out, m)
	}
	// Sorted, a parent comes before its descendants.
	slices.Sort(out)
	out = slices.Compact(out)
	var kept []string
	for _, m := range out {
		if !slices.ContainsFunc(kept, func(k string) bool { return strings.HasPrefix(m, k+"/") }) {
			kept = append(kept, m)
		}
	}
	return kept, nil
}

// initCandidates lists the programs that may be the next stage's init, in
// the order SwitchRoot tries them.
func initCandidates(cmdline string) []string {
	var init, rdinit string
	for _, p := range config.Tokenize(cmdline) {
		switch {
		case p.Key == "init" && p.HasValue:
			init = p.Value // the last one counts, as in the kernel
		case p.Key == "rdinit" && p.HasValue:
			rdinit = p.Value
		}
	}
	var c []string
	for _, p := range []string{init, rdinit, "/init", "/sbin/init"} {
		if p != "" && !slices.Contains(c, p) {
			c = append(c, p)
		}
	}
	return c
}

// findInit returns the first candidate that is an executable in root, its
// symlinks followed as they will be after the chroot. A script's
// interpreter must be there too: exec failing after the switch could not
// be undone.
func findInit(root, cmdline string) (string, error) {
	var why []string
	for _, c := range initCandidates(cmdline) {
		err := checkExecutable(root, c)
		if err == nil {
			return c, nil
		}
		why = append(why, fmt.Sprintf("%s: %v", c, err))
	}
	return "", fmt.Errorf("no init in the initrd (%s)", strings.Join(why, "; "))
}

func checkExecutable(root, name string) error {
	if !path.IsAbs(name) {
		return errors.New("not an absolute path")
	}
	resolved, fi, err := lookupInRoot(root, name)
	if err != nil {
		return err
	}
	if !fi.Mode().IsRegular() || fi.Mode().Perm()&0o111 == 0 {
		return fmt.Errorf("%s is not an executable file", resolved)
	}
	f, err := os.Open(filepath.Join(root, resolved))
	if err != nil {
		return err
	}
	defer f.Close()
	head := make([]byte, 256)
	n, _ := io.ReadFull(f, head)
	line, ok := bytes.CutPrefix(head[:n], []byte("#!"))
	if !ok {
		return nil
	}
	line, _, _ = bytes.Cut(line, []byte("\n"))
	interp := strings.Fields(string(line))
	if len(interp) == 0 {
		return errors.New("a script without an interpreter")
	}
	if err := checkExecutable(root, interp[0]); err != nil {
		return fmt.Errorf("its interpreter %s: %w", interp[0], err)
	}
	return nil
}

// lookupInRoot resolves name inside root as the kernel will once root is
// "/": an absolute symlink starts again at root, ".." stops there. It
// returns the resolved path (absolute within root) and what it is.
func lookupInRoot(root, name string) (string, os.FileInfo, error) {
	parts := strings.Split(name, "/")
	cur := "/"
	var fi os.FileInfo
	for links := 0; len(parts) > 0; {
		p := parts[0]
		parts = parts[1:]
		switch p {
		case "", ".":
			continue
		case "..":
			cur = path.Dir(cur)
			continue
		}
		next := path.Join(cur, p)
		var err error
		fi, err = os.Lstat(filepath.Join(root, next))
		if err != nil {
			return "", nil, fmt.Errorf("%s: %w", next, unwrapPathError(err))
		}
		if fi.Mode()&os.ModeSymlink == 0 {
			cur = next
			continue
		}
		if links++; links > 40 {
			return "", nil, fmt.Errorf("%s: %w", name, unix.ELOOP)
		}
		target, err := os.Readlink(filepath.Join(root, next))
		if err != nil {
			return "", nil, err
		}
		if path.IsAbs(target) {
			cur = "/"
		}
		parts = append(strings.Split(target, "/"), parts...)
	}
	if fi == nil { // name was "/"
		var err error
		if fi, err = os.Stat(root); err != nil {
			return "", nil, err
		}
	}
	return cur, fi, nil
}

func closeFile(f *os.File) {
	if f != nil {
		f.Close()
	}
}

func unwrapPathError(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// isInitramfs says whether dir is on a ramfs or tmpfs, as the rootfs the
// kernel unpacks an initramfs into is: only that may be emptied.
func isInitramfs(dir string) bool {
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		return false
	}
	return st.Type == unix.RAMFS_MAGIC || st.Type == unix.TMPFS_MAGIC
}

// deleteTree empties the directory open as fd, not crossing into other
// file systems (the mounts left behind, the new root itself). It is best
// effort: what cannot be deleted only costs memory.
func deleteTree(fd int) {
	var st unix.Stat_t
	if unix.Fstat(fd, &st) != nil {
		return
	}
	dup, err := unix.Dup(fd) // the os.File closes its own
	if err != nil {
		return
	}
	dir := os.NewFile(uintptr(dup), "")
	names, _ := dir.Readdirnames(-1)
	dir.Close()
	for _, name := range names {
		var cst unix.Stat_t
		if unix.Fstatat(fd, name, &cst, unix.AT_SYMLINK_NOFOLLOW) != nil {
			continue
		}
		if cst.Mode&unix.S_IFMT != unix.S_IFDIR {
			unix.Unlinkat(fd, name, 0)
			continue
		}
		if cst.Dev != st.Dev {
			continue // a mount point
		}
		child, err := unix.Openat(fd, name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		if err != nil {
			continue
		}
		deleteTree(child)
		unix.Close(child)
		unix.Unlinkat(fd, name, unix.AT_REMOVEDIR)
	}
}
