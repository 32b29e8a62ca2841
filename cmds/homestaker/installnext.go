package main

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"

	"aead.dev/minisign"
	"golang.org/x/sys/unix"

	"github.com/homestaker/homestaker-boot/init/atomicfile"
	"github.com/homestaker/homestaker-boot/init/bootcount"
	"github.com/homestaker/homestaker-boot/init/config"
	"github.com/homestaker/homestaker-boot/init/kexectree"
	"github.com/homestaker/homestaker-boot/init/verify"
)

const (
	installNextSynopsis = "[--sign KEYFILE [--source-key PUBKEY]] [--previous=false] --volume DIR SRC"
	installNextAbout    = `Installs a HomestakerOS kexec tree as /boot/current on the volume, where the
init boots it from. SRC is the tree's directory, or its http:// or https://
URL: kexec-boot (or netboot.ipxe with variables.ipxe) and the kernel and
initrd it names. The tree is checked first, as the init reads it: the script
parses, and every file it names is there, a regular file inside SRC. Nothing
on the volume changes when it is not.

The files the tree uses are copied to DIR/boot/.new-*, each fsynced, with a
SHA256SUMS over them and, with --sign, its minisign signature
SHA256SUMS.minisig. When SRC has a SHA256SUMS of its own, the copies must
match it. --sign signs only what was verified: a directory, or a URL whose
own SHA256SUMS.minisig checks against --source-key (a download checked by
nothing else is never signed). The new tree is then checked as the init will check it, and
rotated in: DIR/boot/current becomes DIR/boot/previous (the old previous is
deleted) and the new tree becomes DIR/boot/current. A crash at any point
leaves a bootable current or previous.

An encrypted secret key's password is read from $` + passwordEnv + `, else asked
on the terminal.

exit status: 0 installed, 1 the tree was refused or a step failed (the volume
keeps what it had), 2 wrong usage`
)

var installNextArgNames = map[string]string{"sign": "KEYFILE", "source-key": "PUBKEY", "volume": "DIR"}

type installOptions struct {
	volume      string
	src         string
	signKey     string
	sourceKey   string // the public key SRC's own signature must check against
	previous    bool
	passwordTTY string // where the key's password is asked
}

func parseInstallNextArgs(args []string, stdout, stderr io.Writer) (*installOptions, int) {
	o := &installOptions{}
	fs := newFlagSet("install-next")
	fs.StringVar(&o.signKey, "sign", "", "sign SHA256SUMS with this minisign secret key file (minisign -G's .key); the init then\n"+
		"needs its public key in "+verify.TrustedDir+" to boot the tree under homestaker.verify=signature")
	fs.StringVar(&o.sourceKey, "source-key", "", "with --sign and a URL as SRC: the minisign public key file (minisign.pub) that SRC's own\n"+
		verify.SigFile+" must check against; install-next never signs a plain download")
	fs.BoolVar(&o.previous, "previous", true, "keep the tree that was current as /boot/previous, the fallback; with --previous=false it is\n"+
		"deleted and /boot/previous stays as it is (when the current tree is known bad)")
	fs.StringVar(&o.volume, "volume", "", "the mounted top level of the Btrfs volume (subvolid=5), which holds /boot")
	if code := parseFlags(fs, usageText{installNextSynopsis, installNextAbout, installNextArgNames}, args, stdout, stderr); code >= 0 {
		return nil, code
	}
	fail := func(err error) (*installOptions, int) {
		return nil, usageFailed(stderr, "install-next", installNextSynopsis, err)
	}
	switch fs.NArg() {
	case 0:
		return fail(errors.New("SRC is missing: give the directory or URL of the kexec tree to install"))
	case 1:
	default:
		return fail(fmt.Errorf("one SRC expected, got %q (flags go before SRC)", fs.Args()))
	}
	o.src = fs.Arg(0)
	switch {
	case o.signKey != "" && isHTTP(o.src) && o.sourceKey == "":
		return fail(fmt.Errorf("--sign with a URL as SRC needs --source-key PUBKEY: install-next signs only a download whose own %s checks against a key you give; or fetch the tree, check it, and install it from the directory", verify.SigFile))
	case o.sourceKey != "" && (o.signKey == "" || !isHTTP(o.src)):
		return fail(errors.New("--source-key goes with --sign and a URL as SRC"))
	}
	if o.volume == "" {
		return fail(errors.New("--volume DIR is missing: give where the volume's top level is mounted"))
	}
	if st, err := os.Stat(o.volume); err != nil {
		return fail(fmt.Errorf("--volume %v (mount the volume's top level first: mount -o subvolid=5 DEVICE DIR)", err))
	} else if !st.IsDir() {
		return fail(fmt.Errorf("--volume %s is not a directory; give where the volume's top level is mounted", o.volume))
	}
	if strings.Contains(o.src, "://") && !isHTTP(o.src) {
		return fail(fmt.Errorf("SRC %s: only http:// and https:// URLs, or a directory", o.src))
	}
	return o, -1
}

func isHTTP(s string) bool {
	return strings.HasPrefix(s, "http://") || strings.HasPrefix(s, "https://")
}

func runInstallNext(h *host, args []string, stdout, stderr io.Writer) int {
	o, code := parseInstallNextArgs(args, stdout, stderr)
	if code >= 0 {
		return code
	}
	o.passwordTTY = h.passwordTTY
	res, err := installNext(o, stdout)
	if err != nil {
		fmt.Fprintf(stderr, "homestaker install-next: %v\n", err)
		return exitCheck
	}
	res.print(stdout)
	fmt.Fprintf(stdout, "%s\n", snapshotOutlook(o.volume))
	return exitOK
}

// installedFile is one file of the installed tree.
type installedFile struct {
	name   string
	size   int64
	digest [32]byte
}

// installResult is what install-next did, for the operator.
type installResult struct {
	src      string
	boot     string // DIR/boot
	from     string // kexec-boot or netboot.ipxe
	cmdline  string
	files    []installedFile
	srcSums  bool // SRC's own SHA256SUMS was checked
	checked  verify.Result
	signer   *verify.TrustedKey
	previous string // what became of the old current
}

func (r *installResult) print(w io.Writer) {
	fmt.Fprintf(w, "installed %s (%s) as %s:\n", r.src, r.from, filepath.Join(r.boot, "current"))
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, f := range r.files {
		fmt.Fprintf(tw, "  %s\t%s\tsha256 %s\n", f.name, humanSize(f.size), hex.EncodeToString(f.digest[:]))
	}
	tw.Flush()
	fmt.Fprintf(w, "  command line: %s\n", r.cmdline)
	if r.srcSums {
		fmt.Fprintf(w, "  every file matches SRC's own %s\n", verify.SumsFile)
	}
	if r.signer != nil {
		fmt.Fprintf(w, "  %s, and %s by key %s\n", verify.SumsFile, verify.SigFile, r.signer.ID)
	} else {
		fmt.Fprintf(w, "  %s, not signed\n", verify.SumsFile)
	}
	fmt.Fprintf(w, "checked as the init checks it (homestaker.verify=%s): %d files match\n", r.checked.Mode, len(r.checked.Files))
	fmt.Fprintf(w, "%s\n", r.previous)
	fmt.Fprintf(w, "boot counter reset: HomestakerOS marks the tree good by writing %s/%s once it is up;\n"+
		"after homestaker.tries boots (3 by default) without that mark the init boots %s instead\n",
		filepath.Join(r.boot, "current"), bootcount.SuccessFile, filepath.Join(r.boot, "previous"))
	if r.signer == nil {
		fmt.Fprintf(w, "note: the init boots an unsigned tree only under homestaker.verify=checksum (the default without a\n"+
			"trusted key); sign it with --sign KEYFILE when the initramfs has a key in %s\n", verify.TrustedDir)
		return
	}
	// As minisign -G writes it, so the operator can save it as a file.
	fmt.Fprintf(w, "the init boots it under homestaker.verify=signature when %s in the initramfs holds this public key:\n"+
		"  untrusted comment: minisign public key %s\n  %s\n", verify.TrustedDir, r.signer.ID, r.signer.Key.String())
}

// installNext checks SRC, stages a copy on the volume and rotates it in.
// Until the rotation, a failure leaves the volume as it was (the staging
// directory is removed).
func installNext(o *installOptions, out io.Writer) (res *installResult, err error) {
	var key *minisign.PrivateKey
	if o.signKey != "" {
		// Before the copy: a wrong password should not cost a download.
		k, err := loadSecretKey(o.signKey, o.passwordTTY)
		if err != nil {
			return nil, fmt.Errorf("--sign: %v", err)
		}
		key = &k
	}

	var src treeSource
	if isHTTP(o.src) {
		src, err = newHTTPSource(o.src)
	} else {
		src, err = openDirSource(o.src)
	}
	if err != nil {
		return nil, fmt.Errorf("SRC %v", err)
	}
	defer src.close()
	tree, err := readSourceTree(src)
	if err != nil {
		return nil, fmt.Errorf("refusing %s: %v", o.src, err)
	}
	if o.sourceKey != "" {
		// Signing a download says "I checked this": only when its own
		// signature checks against the key the operator gave. The copies
		// are then matched against that SHA256SUMS below.
		k, err := verify.LoadTrustedKey(o.sourceKey)
		if err != nil {
			return nil, fmt.Errorf("--source-key %v", err)
		}
		sig, err := readSmall(src, verify.SigFile)
		if errors.Is(err, fs.ErrNotExist) {
			sig = nil
		} else if err != nil {
			return nil, fmt.Errorf("refusing %s: %v", o.src, err)
		}
		if _, err := verify.CheckSignature([]verify.TrustedKey{k}, tree.sums, sig, "--sign over a URL needs SRC's own signature by --source-key"); err != nil {
			return nil, fmt.Errorf("refusing to sign %s: %v", o.src, err)
		}
	}
	// Open every file before touching the volume: a tree that names a
	// missing file is refused with nothing changed.
	readers := map[string]io.ReadCloser{}
	defer func() {
		for _, r := range readers {
			r.Close()
		}
	}()
	for _, name := range tree.images {
		r, _, err := src.open(name)
		if err != nil {
			what := "kernel"
			if name == tree.tree.Initrd {
				what = "initrd"
			}
			return nil, fmt.Errorf("refusing %s: the %s named by %s: %v", o.src, what, tree.tree.From, err)
		}
		readers[name] = r
	}

	boot := filepath.Join(o.volume, "boot")
	if !exists(boot) {
		if err := os.Mkdir(boot, 0o755); err != nil {
			return nil, err
		}
		if err := atomicfile.SyncDir(o.volume); err != nil {
			return nil, err
		}
	}
	unlock, err := lockBoot(boot)
	if err != nil {
		return nil, err
	}
	defer unlock()
	if err := removeLeftovers(boot, out); err != nil {
		return nil, err
	}
	stage, err := os.MkdirTemp(boot, ".new-")
	if err != nil {
		return nil, err
	}
	if err := os.Chmod(stage, 0o755); err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			os.RemoveAll(stage)
		}
	}()

	res = &installResult{src: o.src, boot: boot, from: tree.tree.From, cmdline: tree.tree.Cmdline}
	sums := verify.Sums{}
	for _, name := range tree.names() {
		var f installedFile
		if b, ok := tree.scripts[name]; ok {
			f, err = writeStaged(stage, name, strings.NewReader(string(b)), scriptMode(name))
		} else {
			f, err = writeStaged(stage, name, readers[name], 0o644)
		}
		if err != nil {
			return nil, fmt.Errorf("copying %s: %v", src.where(name), err)
		}
		res.files = append(res.files, f)
		sums[f.name] = f.digest
	}
	if tree.sums != nil {
		if err := matchSums(tree.sums, tree.names(), sums); err != nil {
			return nil, fmt.Errorf("refusing %s: the copies do not match its %s: %v", o.src, verify.SumsFile, err)
		}
		res.srcSums = true
	}

	sumsText := verify.FormatSums(sums)
	if back, err := verify.ParseSums(verify.SumsFile, sumsText); err != nil {
		return nil, fmt.Errorf("the %s to write would not read back (%v): a file name it cannot hold", verify.SumsFile, err)
	} else if len(back) != len(sums) {
		return nil, fmt.Errorf("the %s to write would not read back: two file names that are the same once cleaned", verify.SumsFile)
	}
	if err := atomicfile.WriteFile(filepath.Join(stage, verify.SumsFile), sumsText, 0o644); err != nil {
		return nil, err
	}
	var sig []byte
	mode, trusted := config.VerifyChecksum, []verify.TrustedKey(nil)
	if key != nil {
		sig = signSums(*key, sumsText)
		if err := atomicfile.WriteFile(filepath.Join(stage, verify.SigFile), sig, 0o644); err != nil {
			return nil, err
		}
		pub := signerKey(*key)
		res.signer = &pub
		mode, trusted = config.VerifySignature, []verify.TrustedKey{pub}
	}
	if res.checked, err = checkStaged(stage, tree.names(), mode, trusted, sumsText, sig); err != nil {
		return nil, fmt.Errorf("the installed copy fails the init's check: %v", err)
	}
	if err := checkKernel(filepath.Join(stage, tree.tree.Kernel), tree.tree.Kernel); err != nil {
		return nil, err
	}
	// A new tree starts with all its tries (homestaker.tries).
	if err := bootcount.Reset(stage); err != nil {
		return nil, err
	}
	if err := syncTree(stage); err != nil {
		return nil, err
	}
	if res.previous, err = rotate(boot, stage, o.previous); err != nil {
		return nil, err
	}
	return res, nil
}

func scriptMode(name string) os.FileMode {
	if name == "kexec-boot" {
		return 0o755 // HomestakerOS runs it as a script
	}
	return 0o644
}

// writeStaged copies r to stage/name, hashing what it writes, and fsyncs it.
func writeStaged(stage, name string, r io.Reader, mode os.FileMode) (installedFile, error) {
	p := filepath.Join(stage, name)
	if dir := filepath.Dir(p); dir != stage {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return installedFile{}, err
		}
	}
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_EXCL, mode)
	if err != nil {
		return installedFile{}, err
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.CopyBuffer(io.MultiWriter(f, h), r, make([]byte, 1<<20))
	if err != nil {
		return installedFile{}, err
	}
	if err := f.Sync(); err != nil {
		return installedFile{}, fmt.Errorf("fsync %s: %v", p, err)
	}
	if err := f.Close(); err != nil {
		return installedFile{}, err
	}
	fi := installedFile{name: name, size: n}
	h.Sum(fi.digest[:0])
	return fi, nil
}

// matchSums checks the copies against SRC's own SHA256SUMS, with the rule
// the init applies to the installed one: every file listed, every digest
// equal.
func matchSums(srcSums []byte, names []string, got verify.Sums) error {
	want, err := verify.ParseSums(verify.SumsFile, srcSums)
	if err != nil {
		return err
	}
	for _, name := range names {
		w, ok := want[name]
		switch {
		case !ok:
			return &verify.Refusal{File: name, Msg: "not listed in " + verify.SumsFile}
		case w != got[name]:
			return &verify.Refusal{File: name, Msg: "sha256 mismatch"}
		}
	}
	return nil
}

// checkStaged runs the init's check on the staged tree, from files opened
// afresh.
// checkKernel refuses a tree whose kernel the init would refuse.
func checkKernel(path, name string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	return kexectree.CheckKernel(name, f)
}

func checkStaged(stage string, names []string, mode config.VerifyMode, keys []verify.TrustedKey, sums, sig []byte) (verify.Result, error) {
	files := map[string]*os.File{}
	defer func() {
		for _, f := range files {
			f.Close()
		}
	}()
	for _, n := range names {
		f, err := os.Open(filepath.Join(stage, n))
		if err != nil {
			return verify.Result{}, err
		}
		files[n] = f
	}
	return verify.Check(mode, keys, sums, sig, files)
}

// lockBoot takes an exclusive lock on DIR/boot so that two install-next
// runs never rotate at once, and so that leftovers are truly left over.
func lockBoot(boot string) (func(), error) {
	d, err := os.Open(boot)
	if err != nil {
		return nil, err
	}
	if err := unix.Flock(int(d.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		d.Close()
		if errors.Is(err, unix.EWOULDBLOCK) {
			return nil, fmt.Errorf("%s is locked by another homestaker install-next; wait for it to finish", boot)
		}
		return nil, fmt.Errorf("locking %s: %v", boot, err)
	}
	return func() { d.Close() }, nil
}

// removeLeftovers deletes the staging and old trees of an install that
// was interrupted (a crash, a power cut).
func removeLeftovers(boot string, out io.Writer) error {
	entries, err := os.ReadDir(boot)
	if err != nil {
		return err
	}
	for _, e := range entries {
		if !strings.HasPrefix(e.Name(), ".new-") && !strings.HasPrefix(e.Name(), ".old-") {
			continue
		}
		p := filepath.Join(boot, e.Name())
		if err := os.RemoveAll(p); err != nil {
			return fmt.Errorf("removing %s, left by an interrupted install: %v", p, err)
		}
		fmt.Fprintf(out, "removed %s, left by an interrupted install\n", p)
	}
	return nil
}

// rotate moves stage in as current. Only renames change what the init
// sees, in an order that leaves a bootable current or previous after a
// crash at any point; the trees that go are renamed aside first and
// deleted last. A rename that fails is undone in reverse. It returns what
// became of the old trees, for the operator.
func rotate(boot, stage string, keepPrevious bool) (string, error) {
	current, previous := filepath.Join(boot, "current"), filepath.Join(boot, "previous")
	old, err := os.MkdirTemp(boot, ".old-")
	if err != nil {
		return "", err
	}
	var done [][2]string // renames made, to undo on failure
	move := func(from, to string) error {
		if err := os.Rename(from, to); err != nil {
			for i := len(done) - 1; i >= 0; i-- {
				os.Rename(done[i][1], done[i][0])
			}
			os.Remove(old)
			return err
		}
		done = append(done, [2]string{from, to})
		return nil
	}
	var msg string
	switch {
	case !exists(current):
		msg = "there was no current tree before"
		if exists(previous) {
			msg += fmt.Sprintf("; %s is kept", previous)
		}
	case keepPrevious:
		if exists(previous) {
			if err := move(previous, filepath.Join(old, "previous")); err != nil {
				return "", err
			}
		}
		if err := move(current, previous); err != nil {
			return "", err
		}
		msg = fmt.Sprintf("the tree that was current is now %s, the fallback", previous)
	default:
		if err := move(current, filepath.Join(old, "current")); err != nil {
			return "", err
		}
		msg = "--previous=false: the tree that was current is deleted"
		if exists(previous) {
			msg += fmt.Sprintf("; %s is kept as the fallback", previous)
		}
	}
	if err := move(stage, current); err != nil {
		return "", err
	}
	if err := atomicfile.SyncDir(boot); err != nil {
		return "", err
	}
	if err := os.RemoveAll(old); err != nil {
		return "", fmt.Errorf("installed, but removing the old tree %s: %v", old, err)
	}
	return msg, atomicfile.SyncDir(boot)
}

func exists(p string) bool {
	_, err := os.Lstat(p)
	return !errors.Is(err, fs.ErrNotExist)
}

// syncTree fsyncs dir and the directories under it, so that the entries of
// the files written there survive a power cut.
func syncTree(dir string) error {
	return filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.IsDir() {
			return err
		}
		return atomicfile.SyncDir(p)
	})
}
