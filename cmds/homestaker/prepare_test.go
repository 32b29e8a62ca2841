package main

import (
	"bytes"
	"crypto/sha256"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/homestaker/homestaker-boot/init/btrfs"
	"github.com/homestaker/homestaker-boot/init/hostkey"
	"github.com/homestaker/homestaker-boot/init/wgconf"
)

// These tests format, attach and mount image files: they need root, loop
// devices, Btrfs in the kernel and btrfs-progs.
func needRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root (loop devices and mount)")
	}
	if _, err := os.Stat("/dev/loop-control"); err != nil {
		t.Skip("no /dev/loop-control")
	}
	if _, err := exec.LookPath("mkfs.btrfs"); err != nil {
		t.Skip("mkfs.btrfs is not installed")
	}
	if fs, _ := os.ReadFile("/proc/filesystems"); !bytes.Contains(fs, []byte("\tbtrfs\n")) {
		t.Skip("the kernel has no Btrfs (modprobe btrfs)")
	}
}

// newImage makes a sparse image file and checks, last of all cleanups,
// that no loop device is left attached to it.
func newImage(t *testing.T) string {
	t.Helper()
	img := filepath.Join(t.TempDir(), "disk.img")
	if err := os.WriteFile(img, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(img, 256<<20); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		st, err := os.Stat(img)
		if err != nil {
			return
		}
		if why := imageInUse(img, st, nil, nil); len(why) > 0 {
			t.Errorf("left behind: %s", strings.Join(why, "; "))
		}
	})
	return img
}

// imageFS is the filesystem on the image, as prepare's probe sees it.
func imageFS(t *testing.T, img string) *filesystem {
	t.Helper()
	f, err := os.Open(img)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sigs, err := DetectSignatures(f)
	if err != nil {
		t.Fatal(err)
	}
	if len(sigs) != 1 || filesystemOf(sigs[0]) == nil {
		t.Fatalf("%s holds %s, not one btrfs, ext4 or xfs", img, describeSignatures(sigs))
	}
	return filesystemOf(sigs[0])
}

// mountImage attaches and mounts the image's top level until the test
// ends, and returns the mount point.
func mountImage(t *testing.T, img string) string {
	t.Helper()
	top, err := mountTopLevel(img, true, imageFS(t, img))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := top.Close(); err != nil {
			t.Error(err)
		}
	})
	return top.Dir
}

// volumeFiles reads the files under the image's top level (mounted for
// the time of the call), by path relative to it.
func volumeFiles(t *testing.T, img string) map[string][]byte {
	t.Helper()
	top, err := mountTopLevel(img, true, imageFS(t, img))
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := top.Close(); err != nil {
			t.Error(err)
		}
	}()
	files := map[string][]byte{}
	err = filepath.WalkDir(top.Dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(top.Dir, p)
		st, _ := d.Info()
		files[rel+":mode"] = []byte(st.Mode().Perm().String())
		files[rel], err = os.ReadFile(p)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}

func prepareOK(t *testing.T, args ...string) string {
	t.Helper()
	code, out, errOut := cli(t, append([]string{"prepare"}, args...)...)
	if code != exitOK {
		t.Fatalf("prepare %q = %d\n%s%s", args, code, out, errOut)
	}
	return out + errOut
}

func wgArgs(t *testing.T) []string {
	return []string{"--wg-address", "10.8.0.2/24", "--wg-peer-public-key", publicKey(t),
		"--wg-endpoint", "vpn.example.org:51820", "--wg-keepalive", "25"}
}

// wgPrivateKey returns the PrivateKey value of a wg0.conf as the file has it.
func wgPrivateKey(t *testing.T, conf []byte) string {
	t.Helper()
	for _, l := range strings.Split(string(conf), "\n") {
		if k, ok := strings.CutPrefix(l, "PrivateKey = "); ok {
			return k
		}
	}
	t.Fatalf("no PrivateKey in wg0.conf")
	return ""
}

// assertNoSecrets fails when out holds a line of the SSH private key, the
// JWT or the WireGuard private key of the volume.
func assertNoSecrets(t *testing.T, out string, files map[string][]byte) {
	t.Helper()
	var secrets []string
	for rel, data := range files {
		switch {
		case strings.HasSuffix(rel, ":mode"):
		case filepath.Base(rel) == "id_ed25519":
			for _, l := range strings.Split(string(data), "\n") {
				if l = strings.TrimSpace(l); l != "" && !strings.HasPrefix(l, "-----") {
					secrets = append(secrets, l)
				}
			}
		case filepath.Base(rel) == "jwt.hex":
			secrets = append(secrets, strings.TrimSpace(string(data)))
		case filepath.Base(rel) == "wg0.conf":
			secrets = append(secrets, wgPrivateKey(t, data))
		}
	}
	if len(secrets) == 0 {
		t.Fatal("no secrets found on the volume to look for")
	}
	for _, s := range secrets {
		if strings.Contains(out, s) {
			t.Errorf("the output shows a secret value (%d characters)", len(s))
		}
	}
}

// publicFacts are what the operator must see: the WireGuard public key
// and the SSH fingerprint, computed from the files on the volume.
func publicFacts(t *testing.T, files map[string][]byte, wgPath string) (wgPub, sshFP string) {
	t.Helper()
	cfg, _, err := wgconf.Parse(wgPath, files[wgPath])
	if err != nil {
		t.Fatal(err)
	}
	_, pub, err := hostkey.Parse(files["secrets/ssh/id_ed25519"])
	if err != nil {
		t.Fatal(err)
	}
	return cfg.PublicKey().String(), hostkey.Fingerprint(pub)
}

func TestPrepareLegacyLayout(t *testing.T) {
	needRoot(t)
	img := newImage(t)
	out := prepareOK(t, append(wgArgs(t), img)...)
	files := volumeFiles(t, img)

	for rel, mode := range map[string]string{
		"secrets/wireguard/wg0.conf": "-rw-------", "erigon/jwt.hex": "-rw-------", "lighthouse/jwt.hex": "-rw-------",
		"secrets/ssh/id_ed25519": "-rw-------", "secrets/ssh/id_ed25519.pub": "-rw-r--r--",
	} {
		if _, ok := files[rel]; !ok {
			t.Errorf("no %s on the volume", rel)
		} else if got := string(files[rel+":mode"]); got != mode {
			t.Errorf("%s has mode %s, want %s", rel, got, mode)
		}
	}
	for _, rel := range []string{"secrets/wg0.conf", "secrets/jwt.hex"} {
		if _, ok := files[rel]; ok {
			t.Errorf("%s written in the legacy layout", rel)
		}
	}
	if !bytes.Equal(files["erigon/jwt.hex"], files["lighthouse/jwt.hex"]) {
		t.Error("the two JWT copies differ")
	}
	wgPub, fp := publicFacts(t, files, "secrets/wireguard/wg0.conf")
	if !strings.Contains(out, wgPub) || !strings.Contains(out, fp) {
		t.Errorf("the output lacks the WireGuard public key %s or the SSH fingerprint %s:\n%s", wgPub, fp, out)
	}
	if !strings.Contains(out, "ssh-ed25519 AAAA") {
		t.Errorf("the output lacks the SSH public key:\n%s", out)
	}
	assertNoSecrets(t, out, files)

	// The volume passes the init's checks.
	dir := mountImage(t, img)
	code, checkOut, _ := cli(t, "check", dir)
	if code != exitOK {
		t.Errorf("check of the prepared volume = %d:\n%s", code, checkOut)
	}
	assertNoSecrets(t, checkOut, files)
}

func TestPrepareCurrentLayout(t *testing.T) {
	needRoot(t)
	img := newImage(t)
	prepareOK(t, append(wgArgs(t), "--layout", "current", img)...)
	files := volumeFiles(t, img)
	for _, rel := range []string{"secrets/wg0.conf", "secrets/jwt.hex", "secrets/ssh/id_ed25519", "secrets/ssh/id_ed25519.pub"} {
		if _, ok := files[rel]; !ok {
			t.Errorf("no %s on the volume", rel)
		}
	}
	for _, rel := range []string{"secrets/wireguard/wg0.conf", "erigon/jwt.hex", "lighthouse/jwt.hex"} {
		if _, ok := files[rel]; ok {
			t.Errorf("%s written in the current layout", rel)
		}
	}
	dir := mountImage(t, img)
	if code, out, _ := cli(t, "check", dir); code != exitOK {
		t.Errorf("check = %d:\n%s", code, out)
	}
}

func TestPrepareWithoutWireGuardFlags(t *testing.T) {
	needRoot(t)
	img := newImage(t)
	out := prepareOK(t, img)
	if !strings.Contains(out, "homestaker.wg=off") {
		t.Errorf("no notice that the init needs a wg0.conf:\n%s", out)
	}
	files := volumeFiles(t, img)
	for rel := range files {
		if strings.HasSuffix(rel, "wg0.conf") {
			t.Errorf("%s written without --wg flags", rel)
		}
	}
	// A later run with the flags adds it and keeps the rest.
	out = prepareOK(t, append(wgArgs(t), img)...)
	after := volumeFiles(t, img)
	if _, ok := after["secrets/wireguard/wg0.conf"]; !ok || !bytes.Equal(files["erigon/jwt.hex"], after["erigon/jwt.hex"]) {
		t.Errorf("second run: wg0.conf added %v, JWT kept %v\n%s", ok, bytes.Equal(files["erigon/jwt.hex"], after["erigon/jwt.hex"]), out)
	}
}

func TestPrepareIdempotentAndRotate(t *testing.T) {
	needRoot(t)
	img := newImage(t)
	prepareOK(t, append(wgArgs(t), img)...)
	first := volumeFiles(t, img)
	_, fp1 := publicFacts(t, first, "secrets/wireguard/wg0.conf")

	// Again, with other --wg flags: nothing is formatted or replaced.
	out := prepareOK(t, append(wgArgs(t), img)...)
	if !strings.Contains(out, "not formatting") || strings.Contains(out, "mkfs.btrfs") {
		t.Errorf("the second run formatted the volume:\n%s", out)
	}
	if !strings.Contains(out, "ignored") || !strings.Contains(out, "--rotate") {
		t.Errorf("no warning that the --wg flags were ignored:\n%s", out)
	}
	second := volumeFiles(t, img)
	for _, rel := range []string{"erigon/jwt.hex", "lighthouse/jwt.hex", "secrets/wireguard/wg0.conf", "secrets/ssh/id_ed25519", "secrets/ssh/id_ed25519.pub"} {
		if !bytes.Equal(first[rel], second[rel]) {
			t.Errorf("%s changed on the second run", rel)
		}
	}
	if _, fp2 := publicFacts(t, second, "secrets/wireguard/wg0.conf"); fp2 != fp1 {
		t.Errorf("SSH fingerprint %s became %s", fp1, fp2)
	}

	// --rotate replaces every secret but keeps the tunnel's addresses
	// and peer.
	out = prepareOK(t, "--rotate", img)
	third := volumeFiles(t, img)
	for _, rel := range []string{"erigon/jwt.hex", "lighthouse/jwt.hex", "secrets/wireguard/wg0.conf", "secrets/ssh/id_ed25519"} {
		if bytes.Equal(second[rel], third[rel]) {
			t.Errorf("%s unchanged by --rotate", rel)
		}
	}
	if !bytes.Equal(third["erigon/jwt.hex"], third["lighthouse/jwt.hex"]) {
		t.Error("the JWT copies differ after --rotate")
	}
	if _, fp3 := publicFacts(t, third, "secrets/wireguard/wg0.conf"); fp3 == fp1 || !strings.Contains(out, fp3) {
		t.Errorf("SSH fingerprint after --rotate: %s (before %s)", fp3, fp1)
	}
	old, _, _ := wgconf.Parse("wg0.conf", second["secrets/wireguard/wg0.conf"])
	rotated, _, err := wgconf.Parse("wg0.conf", third["secrets/wireguard/wg0.conf"])
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(old.Interface.Addresses, rotated.Interface.Addresses) || len(rotated.Peers) != 1 ||
		rotated.Peers[0].PublicKey != old.Peers[0].PublicKey || rotated.Peers[0].Endpoint.String() != old.Peers[0].Endpoint.String() {
		t.Errorf("--rotate lost the tunnel's settings: %v -> %v", old, rotated)
	}
	assertNoSecrets(t, out, third)
}

func sum(t *testing.T, path string) [32]byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return sha256.Sum256(b)
}

func TestPrepareRefusesAnotherFilesystem(t *testing.T) {
	needRoot(t)
	for _, tc := range []struct {
		name string
		tool string
		args []string
		msg  string
	}{
		{"ext4", "mkfs.ext4", []string{"-q", "-F"}, "ext4"},
		{"btrfs labelled data", "mkfs.btrfs", []string{"-q", "-L", "data"}, `btrfs labelled "data"`},
		{"swap", "mkswap", nil, "swap"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			bin, err := exec.LookPath(tc.tool)
			if err != nil {
				t.Skipf("%s is not installed", tc.tool)
			}
			img := newImage(t)
			if out, err := exec.Command(bin, append(tc.args, img)...).CombinedOutput(); err != nil {
				t.Fatalf("%s: %v\n%s", tc.tool, err, out)
			}
			before := sum(t, img)
			code, out, errOut := cli(t, "prepare", img)
			if code != exitCheck || !strings.Contains(errOut, tc.msg) || !strings.Contains(errOut, "--force") || !strings.Contains(errOut, img) {
				t.Fatalf("prepare = %d, %q; want %d naming %s, %q and --force\n%s", code, errOut, exitCheck, img, tc.msg, out)
			}
			if sum(t, img) != before {
				t.Fatal("the refused image was changed")
			}

			prepareOK(t, "--force", img)
			f, err := os.Open(img)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			if sb, err := btrfs.ReadSuperblock(f); err != nil || sb.Label != "homestaker" {
				t.Errorf("after --force: %v, %v", sb, err)
			}
		})
	}
}

func TestPrepareRefusesPartitionTable(t *testing.T) {
	needRoot(t)
	img := newImage(t)
	f, err := os.OpenFile(img, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteAt(newDisk(512).mbrEntry(0, 0x80, 0x83), 0)
	f.Close()
	code, _, errOut := cli(t, "prepare", img)
	if code != exitCheck || !strings.Contains(errOut, "partition table") {
		t.Errorf("prepare of a partitioned disk = %d, %q", code, errOut)
	}
}

func TestPrepareRefusesMountedImage(t *testing.T) {
	needRoot(t)
	img := newImage(t)
	prepareOK(t, img)
	dir := mountImage(t, img)
	code, out, errOut := cli(t, "prepare", "--force", img)
	if code != exitCheck || !strings.Contains(errOut, "mounted at "+dir) || !strings.Contains(errOut, "--force does not override") {
		t.Errorf("prepare --force of a mounted image = %d, %q\n%s", code, errOut, out)
	}
}

// TestPrepareBlockDevice prepares a loop device as a block device (what an
// operator does with /dev/sdX), then refuses it while it is mounted.
func TestPrepareBlockDevice(t *testing.T) {
	needRoot(t)
	img := newImage(t)
	loop, err := attachLoop(img)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := loop.Detach(); err != nil {
			t.Error(err)
		}
	})
	out := prepareOK(t, append(wgArgs(t), loop.Path)...)
	if !strings.Contains(out, "block device") || strings.Contains(out, "attached") {
		t.Errorf("prepare of %s:\n%s", loop.Path, out)
	}

	dir := t.TempDir()
	if err := unix.Mount(loop.Path, dir, "btrfs", 0, "subvol=secrets"); err != nil {
		t.Fatal(err)
	}
	defer unix.Unmount(dir, 0)
	code, _, errOut := cli(t, "prepare", "--force", loop.Path)
	if code != exitCheck || !strings.Contains(errOut, "mounted at "+dir) {
		t.Errorf("prepare --force of a mounted block device = %d, %q", code, errOut)
	}
}

func TestPrepareRefusesPlainDirectory(t *testing.T) {
	needRoot(t)
	img := newImage(t)
	prepareOK(t, img)
	func() {
		top, err := mountTopLevel(img, true, btrfsFS)
		if err != nil {
			t.Fatal(err)
		}
		defer top.Close()
		if err := os.Mkdir(filepath.Join(top.Dir, "addons"), 0o755); err != nil {
			t.Fatal(err)
		}
	}()
	code, _, errOut := cli(t, "prepare", "--subvols", "secrets,erigon,lighthouse,addons", img)
	if code != exitCheck || !strings.Contains(errOut, `plain directory "addons"`) {
		t.Errorf("prepare with a plain directory = %d, %q", code, errOut)
	}
}

// TestLoopSetFDFallback attaches as a kernel without LOOP_CONFIGURE
// (before 5.8) makes it: LOOP_SET_FD and LOOP_SET_STATUS64.
func TestLoopSetFDFallback(t *testing.T) {
	needRoot(t)
	img := newImage(t)
	prepareOK(t, img)
	loop, err := attachLoopWith(img, func(int, *unix.LoopConfig) error { return unix.EINVAL })
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := loop.Detach(); err != nil {
			t.Error(err)
		}
	}()
	info, err := unix.IoctlLoopGetStatus64(int(loop.f.Fd()))
	if err != nil || info.Flags&unix.LO_FLAGS_AUTOCLEAR == 0 {
		t.Errorf("LOOP_GET_STATUS64 = %+v, %v; want autoclear set", info, err)
	}
	// The device holds the image: the volume prepare made mounts from it.
	dir := t.TempDir()
	if err := unix.Mount(loop.Path, dir, "btrfs", unix.MS_RDONLY, "subvolid=5"); err != nil {
		t.Fatalf("mount %s: %v", loop.Path, err)
	}
	if err := unix.Unmount(dir, 0); err != nil {
		t.Error(err)
	}
}

func TestPrepareShowsMkfsFailure(t *testing.T) {
	needRoot(t)
	img := newImage(t)
	if err := os.Truncate(img, 16<<20); err != nil {
		t.Fatal(err)
	}
	code, out, errOut := cli(t, "prepare", img)
	if code != exitCheck || !strings.Contains(errOut, "mkfs.btrfs -L homestaker "+img) || !strings.Contains(errOut, "too small") {
		t.Errorf("prepare of a 16 MiB image = %d, %q\n%s", code, errOut, out)
	}
}

func TestPrepareRotateNeedsFlagsForANewWireGuard(t *testing.T) {
	needRoot(t)
	img := newImage(t)
	code, out, errOut := cli(t, "prepare", "--rotate", "--wg-endpoint", "192.0.2.1:51820", img)
	if code != exitUsage || !strings.Contains(errOut, "--wg-address is needed") {
		t.Errorf("prepare --rotate --wg-endpoint on a new image = %d, %q\n%s", code, errOut, out)
	}
	if strings.Contains(out, "jwt:") {
		t.Errorf("secrets were written before the wg0.conf failed:\n%s", out)
	}
}
