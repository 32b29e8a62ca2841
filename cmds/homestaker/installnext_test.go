package main

import (
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"

	"aead.dev/minisign"

	"github.com/homestaker/homestaker-boot/init/config"
	"github.com/homestaker/homestaker-boot/init/verify"
)

// kexecBoot is a kexec-boot script as the HomestakerOS web UI writes it.
func kexecBoot(initrd, cmdline string) string {
	return `#!/usr/bin/env bash
if ! kexec -v >/dev/null 2>&1; then
  echo "kexec not found: please install kexec-tools" 2>&1
  exit 1
fi
SCRIPT_DIR=$( cd -- "$( dirname -- "${BASH_SOURCE[0]}" )" &> /dev/null && pwd )
kexec --load ${SCRIPT_DIR}/bzImage \
  --initrd=${SCRIPT_DIR}/` + initrd + ` \
  --command-line "` + cmdline + `"
systemctl kexec
`
}

const testCmdline = "init=/nix/store/0123456789abcdfghijklmnpqrsvwxyz-nixos-system-homestakeros-23.11/init boot.shell_on_fail mitigations=off"

// bzHead is the start of an x86 bzImage, enough for the kernel check.
var bzHead = func() string {
	b := make([]byte, 0xa01) // past 4 sectors of setup code (setup_sects 0)
	b[0x1fe], b[0x1ff] = 0x55, 0xaa
	copy(b[0x202:], "HdrS\x0f\x02")
	b[0x211] = 0x01 // LOADED_HIGH
	b[0x236] = 0x03 // XLF_KERNEL_64, XLF_CAN_BE_LOADED_ABOVE_4G: kexec_file_load takes it
	return string(b)
}()

// kexecTree writes a HomestakerOS kexec tree; tag makes its files differ
// from another tree's.
func kexecTree(t *testing.T, tag string) string {
	t.Helper()
	dir := t.TempDir()
	for name, content := range map[string]string{
		"kexec-boot": kexecBoot("initrd.zst", testCmdline+" tag="+tag),
		"bzImage":    bzHead + "kernel " + tag,
		"initrd.zst": strings.Repeat("initrd "+tag+" ", 100000),
		"netboot.ipxe": "#!ipxe\nchain --autofree variables.ipxe\nkernel bzImage ${kernel-params} ${cmdline}\n" +
			"initrd initrd.zst\nboot\n",
		"variables.ipxe": "#!ipxe\nset kernel-params " + testCmdline + " initrd=initrd.zst tag=" + tag + "\n",
	} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// snapshot is every file under dir with its content, to see that a
// refused install changed nothing.
func snapshot(t *testing.T, dir string) map[string]string {
	t.Helper()
	m := map[string]string{}
	filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			t.Fatal(err)
		}
		rel, _ := filepath.Rel(dir, p)
		if d.IsDir() {
			m[rel+"/"] = ""
			return nil
		}
		b, _ := os.ReadFile(p)
		m[rel] = string(b)
		return nil
	})
	return m
}

func names(dir string) []string {
	entries, _ := os.ReadDir(dir)
	var n []string
	for _, e := range entries {
		n = append(n, e.Name())
	}
	return n
}

// checkInstalled runs the init's check on an installed tree and returns
// the names it covered.
func checkInstalled(t *testing.T, dir string, mode config.VerifyMode, keys []verify.TrustedKey) verify.Result {
	t.Helper()
	sums, err := os.ReadFile(filepath.Join(dir, verify.SumsFile))
	if err != nil {
		t.Fatal(err)
	}
	sig, err := os.ReadFile(filepath.Join(dir, verify.SigFile))
	if err != nil {
		sig = nil
	}
	files := map[string]*os.File{}
	for _, n := range names(dir) {
		if n == verify.SumsFile || n == verify.SigFile {
			continue
		}
		f, err := os.Open(filepath.Join(dir, n))
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		files[n] = f
	}
	res, err := verify.Check(mode, keys, sums, sig, files)
	if err != nil {
		t.Fatalf("verify.Check of %s: %v", dir, err)
	}
	return res
}

func sha256Of(t *testing.T, p string) string {
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	d := sha256.Sum256(b)
	return hex.EncodeToString(d[:])
}

func TestInstallNextFromDir(t *testing.T) {
	src, vol := kexecTree(t, "one"), t.TempDir()
	code, out, errs := cli(t, "install-next", "--volume", vol, src)
	if code != exitOK {
		t.Fatalf("install-next = %d\n%s%s", code, out, errs)
	}
	current := filepath.Join(vol, "boot", "current")
	if got, want := names(current), []string{"SHA256SUMS", "bzImage", "initrd.zst", "kexec-boot"}; !slices.Equal(got, want) {
		t.Errorf("installed %v, want %v (the files kexec-boot uses and SHA256SUMS)", got, want)
	}
	if got := names(filepath.Join(vol, "boot")); !slices.Equal(got, []string{"current"}) {
		t.Errorf("boot/ holds %v, want only current", got)
	}
	for _, n := range []string{"kexec-boot", "bzImage", "initrd.zst"} {
		if a, b := sha256Of(t, filepath.Join(src, n)), sha256Of(t, filepath.Join(current, n)); a != b {
			t.Errorf("%s differs from the source", n)
		}
		if !strings.Contains(out, sha256Of(t, filepath.Join(src, n))) {
			t.Errorf("output does not show the digest of %s:\n%s", n, out)
		}
	}
	if st, _ := os.Stat(filepath.Join(current, "kexec-boot")); st.Mode().Perm() != 0o755 {
		t.Errorf("kexec-boot mode %v, want 0755", st.Mode().Perm())
	}
	res := checkInstalled(t, current, config.VerifyAuto, nil)
	if res.Mode != "checksum" || len(res.Files) != 3 {
		t.Errorf("the init's check: %+v", res)
	}
	for _, want := range []string{"installed " + src + " (kexec-boot)", "command line: " + testCmdline, "not signed", "3 files match", "there was no current tree before"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}

// A symlink inside the tree is followed; the volume gets a regular file.
func TestInstallNextSymlinkInsideTree(t *testing.T) {
	src, vol := kexecTree(t, "one"), t.TempDir()
	if err := os.MkdirAll(filepath.Join(src, "nix", "store"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(filepath.Join(src, "initrd.zst"), filepath.Join(src, "nix", "store", "initrd.zst")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("nix/store/initrd.zst", filepath.Join(src, "initrd.zst")); err != nil {
		t.Fatal(err)
	}
	if code, out, errs := cli(t, "install-next", "--volume", vol, src); code != exitOK {
		t.Fatalf("install-next = %d\n%s%s", code, out, errs)
	}
	st, err := os.Lstat(filepath.Join(vol, "boot", "current", "initrd.zst"))
	if err != nil || !st.Mode().IsRegular() {
		t.Errorf("installed initrd.zst: %v, %v; want a regular file", st, err)
	}
	checkInstalled(t, filepath.Join(vol, "boot", "current"), config.VerifyChecksum, nil)
}

func TestInstallNextRotates(t *testing.T) {
	vol := t.TempDir()
	boot := filepath.Join(vol, "boot")
	install := func(tag string, args ...string) {
		t.Helper()
		src := kexecTree(t, tag)
		code, out, errs := cli(t, append(append([]string{"install-next", "--volume", vol}, args...), src)...)
		if code != exitOK {
			t.Fatalf("install-next %s = %d\n%s%s", tag, code, out, errs)
		}
	}
	kernel := func(tree string) string {
		b, _ := os.ReadFile(filepath.Join(boot, tree, "bzImage"))
		return strings.TrimPrefix(string(b), bzHead)
	}
	install("one")
	install("two")
	if kernel("current") != "kernel two" || kernel("previous") != "kernel one" {
		t.Errorf("after two installs: current %q, previous %q", kernel("current"), kernel("previous"))
	}
	install("three")
	if kernel("current") != "kernel three" || kernel("previous") != "kernel two" {
		t.Errorf("after three installs: current %q, previous %q", kernel("current"), kernel("previous"))
	}
	// The current tree is bad: replace it and keep the good previous.
	install("four", "--previous=false")
	if kernel("current") != "kernel four" || kernel("previous") != "kernel two" {
		t.Errorf("after --previous=false: current %q, previous %q", kernel("current"), kernel("previous"))
	}
	if got := names(boot); !slices.Equal(got, []string{"current", "previous"}) {
		t.Errorf("boot/ holds %v, want current and previous only", got)
	}
	checkInstalled(t, filepath.Join(boot, "previous"), config.VerifyChecksum, nil)
}

func TestInstallNextRemovesLeftovers(t *testing.T) {
	vol := t.TempDir()
	for _, d := range []string{"boot/.new-123/x", "boot/.old-456/current"} {
		if err := os.MkdirAll(filepath.Join(vol, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	code, out, errs := cli(t, "install-next", "--volume", vol, kexecTree(t, "one"))
	if code != exitOK {
		t.Fatalf("install-next = %d\n%s%s", code, out, errs)
	}
	if got := names(filepath.Join(vol, "boot")); !slices.Equal(got, []string{"current"}) {
		t.Errorf("boot/ holds %v, want only current", got)
	}
	if !strings.Contains(out, ".new-123, left by an interrupted install") {
		t.Errorf("output does not say what it removed:\n%s", out)
	}
}

func TestInstallNextRefuses(t *testing.T) {
	for _, tc := range []struct {
		name   string
		damage func(t *testing.T, src string)
		want   string
	}{
		{"missing initrd", func(t *testing.T, src string) {
			write(t, filepath.Join(src, "kexec-boot"), kexecBoot("initrd-new.zst", testCmdline))
		}, "the initrd named by kexec-boot: " + "SRC/initrd-new.zst: file does not exist"},
		{"kexec-boot does not parse", func(t *testing.T, src string) {
			write(t, filepath.Join(src, "kexec-boot"), kexecBoot("initrd.zst", testCmdline)+"rm -rf /\n")
		}, "SRC/kexec-boot:11: \"rm -rf /\": not a line a kexec-boot script has"},
		{"no script", func(t *testing.T, src string) {
			os.Remove(filepath.Join(src, "kexec-boot"))
			os.Remove(filepath.Join(src, "netboot.ipxe"))
		}, "no kexec-boot or netboot.ipxe in SRC"},
		{"initrd is a directory", func(t *testing.T, src string) {
			os.Remove(filepath.Join(src, "initrd.zst"))
			os.Mkdir(filepath.Join(src, "initrd.zst"), 0o755)
		}, "SRC/initrd.zst is a directory, not a regular file"},
		{"symlink out of the tree", func(t *testing.T, src string) {
			outside := filepath.Join(t.TempDir(), "initrd.zst")
			write(t, outside, "someone else's initrd")
			os.Remove(filepath.Join(src, "initrd.zst"))
			os.Symlink(outside, filepath.Join(src, "initrd.zst"))
		}, "SRC/initrd.zst is a symlink to "},
		{"relative symlink out of the tree", func(t *testing.T, src string) {
			os.Remove(filepath.Join(src, "bzImage"))
			os.Symlink("../../etc/passwd", filepath.Join(src, "bzImage"))
		}, "SRC/bzImage is a symlink to ../../etc/passwd, outside the tree"},
		{"source SHA256SUMS mismatch", func(t *testing.T, src string) {
			d := sha256.Sum256([]byte("another kernel"))
			sums := verify.Sums{"bzImage": d}
			for _, n := range []string{"kexec-boot", "initrd.zst"} {
				b, _ := os.ReadFile(filepath.Join(src, n))
				sums[n] = sha256.Sum256(b)
			}
			write(t, filepath.Join(src, "SHA256SUMS"), string(verify.FormatSums(sums)))
		}, "the copies do not match its SHA256SUMS: bzImage: sha256 mismatch"},
		{"kernel named SHA256SUMS", func(t *testing.T, src string) {
			write(t, filepath.Join(src, "kexec-boot"), strings.Replace(kexecBoot("initrd.zst", testCmdline), "/bzImage", "/SHA256SUMS", 1))
		}, "kexec-boot names SHA256SUMS as its kernel"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			vol := t.TempDir()
			if code, out, errs := cli(t, "install-next", "--volume", vol, kexecTree(t, "good")); code != exitOK {
				t.Fatalf("first install-next = %d\n%s%s", code, out, errs)
			}
			before := snapshot(t, vol)
			src := kexecTree(t, "bad")
			tc.damage(t, src)
			code, out, errs := cli(t, "install-next", "--volume", vol, src)
			if code != exitCheck {
				t.Errorf("install-next = %d, want %d\n%s%s", code, exitCheck, out, errs)
			}
			if want := strings.ReplaceAll(tc.want, "SRC", src); !strings.Contains(errs, want) {
				t.Errorf("stderr %q\nwant it to contain %q", errs, want)
			}
			if !reflect.DeepEqual(snapshot(t, vol), before) {
				t.Errorf("the volume changed: %v\nwas %v", snapshot(t, vol), before)
			}
		})
	}
}

func write(t *testing.T, p, content string) {
	t.Helper()
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestInstallNextSigned(t *testing.T) {
	pub, priv, err := minisign.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	keyFile := filepath.Join(t.TempDir(), "minisign.key")
	sec, _ := priv.MarshalText()
	write(t, keyFile, string(sec)+"\n")
	id := verify.KeyID(pub.ID())

	vol := t.TempDir()
	code, out, errs := cli(t, "install-next", "--sign", keyFile, "--volume", vol, kexecTree(t, "one"))
	if code != exitOK {
		t.Fatalf("install-next --sign = %d\n%s%s", code, out, errs)
	}
	current := filepath.Join(vol, "boot", "current")
	trusted := []verify.TrustedKey{{ID: id, File: "test.pub", Key: pub}}
	res := checkInstalled(t, current, config.VerifySignature, trusted)
	if res.Signer != id || len(res.Files) != 3 {
		t.Errorf("the init's check: %+v; want signer %s and 3 files", res, id)
	}
	for _, want := range []string{"SHA256SUMS.minisig by key " + id, "homestaker.verify=signature): 3 files match",
		"  untrusted comment: minisign public key " + id + "\n  " + pub.String() + "\n"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	// An unknown key's signature is refused by the init's check.
	_, other, _ := minisign.GenerateKey(nil)
	otherPub := other.Public().(minisign.PublicKey)
	sums, _ := os.ReadFile(filepath.Join(current, verify.SumsFile))
	sig, _ := os.ReadFile(filepath.Join(current, verify.SigFile))
	_, err = verify.Check(config.VerifySignature, []verify.TrustedKey{{ID: verify.KeyID(otherPub.ID()), Key: otherPub}}, sums, sig, nil)
	if err == nil || !strings.Contains(err.Error(), "signed by unknown key "+id) {
		t.Errorf("Check with another trusted key = %v; want the signer %s named", err, id)
	}
}

// TestInstallNextEncryptedKey decrypts a key with minisign's default
// scrypt cost (1 GiB, several seconds): skipped with -short.
func TestInstallNextEncryptedKey(t *testing.T) {
	if testing.Short() {
		t.Skip("scrypt with minisign's cost takes seconds")
	}
	_, priv, err := minisign.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	enc, err := minisign.EncryptKey("correct horse", priv)
	if err != nil {
		t.Fatal(err)
	}
	keyFile := filepath.Join(t.TempDir(), "minisign.key")
	write(t, keyFile, string(enc)+"\n")
	// cli's host has no terminal to ask on.

	t.Run("no password", func(t *testing.T) {
		t.Setenv(passwordEnv, "")
		os.Unsetenv(passwordEnv)
		vol := t.TempDir()
		code, out, errs := cli(t, "install-next", "--sign", keyFile, "--volume", vol, kexecTree(t, "one"))
		if code != exitCheck || !strings.Contains(errs, "is encrypted and there is no password: set "+passwordEnv) {
			t.Errorf("install-next = %d\n%s%s; want a refusal naming %s", code, out, errs, passwordEnv)
		}
		if got := names(vol); len(got) != 0 {
			t.Errorf("the volume holds %v; want nothing written", got)
		}
	})
	t.Run("password from the environment", func(t *testing.T) {
		t.Setenv(passwordEnv, "correct horse")
		vol := t.TempDir()
		code, out, errs := cli(t, "install-next", "--sign", keyFile, "--volume", vol, kexecTree(t, "one"))
		if code != exitOK || !strings.Contains(out, "SHA256SUMS.minisig by key "+verify.KeyID(priv.ID())) {
			t.Errorf("install-next = %d\n%s%s", code, out, errs)
		}
	})
}

func TestInstallNextHTTP(t *testing.T) {
	src := kexecTree(t, "web")
	var (
		mu  sync.Mutex
		got []string
	)
	requests := func() []string {
		mu.Lock()
		defer mu.Unlock()
		return slices.Clone(got)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		got = append(got, r.URL.Path)
		mu.Unlock()
		http.StripPrefix("/trees/web/", http.FileServer(http.Dir(src))).ServeHTTP(w, r)
	}))
	defer srv.Close()

	t.Run("kexec-boot", func(t *testing.T) {
		vol := t.TempDir()
		code, out, errs := cli(t, "install-next", "--volume", vol, srv.URL+"/trees/web")
		if code != exitOK {
			t.Fatalf("install-next = %d\n%s%s", code, out, errs)
		}
		current := filepath.Join(vol, "boot", "current")
		for _, n := range []string{"kexec-boot", "bzImage", "initrd.zst"} {
			if sha256Of(t, filepath.Join(src, n)) != sha256Of(t, filepath.Join(current, n)) {
				t.Errorf("%s differs from what the server has", n)
			}
		}
		checkInstalled(t, current, config.VerifyChecksum, nil)
		want := []string{"/trees/web/kexec-boot", "/trees/web/SHA256SUMS", "/trees/web/bzImage", "/trees/web/initrd.zst"}
		if got := requests(); !slices.Equal(got, want) {
			t.Errorf("requests %v, want %v", got, want)
		}
	})
	t.Run("netboot.ipxe", func(t *testing.T) {
		os.Remove(filepath.Join(src, "kexec-boot"))
		vol := t.TempDir()
		code, out, errs := cli(t, "install-next", "--volume", vol, srv.URL+"/trees/web/")
		if code != exitOK {
			t.Fatalf("install-next = %d\n%s%s", code, out, errs)
		}
		current := filepath.Join(vol, "boot", "current")
		if got, want := names(current), []string{"SHA256SUMS", "bzImage", "initrd.zst", "netboot.ipxe", "variables.ipxe"}; !slices.Equal(got, want) {
			t.Errorf("installed %v, want %v", got, want)
		}
		checkInstalled(t, current, config.VerifyChecksum, nil)
		if !strings.Contains(out, "(netboot.ipxe)") || !strings.Contains(out, "command line: "+testCmdline+" initrd=initrd.zst tag=web") {
			t.Errorf("output:\n%s", out)
		}
	})
	t.Run("missing initrd", func(t *testing.T) {
		os.Remove(filepath.Join(src, "initrd.zst"))
		vol := t.TempDir()
		code, out, errs := cli(t, "install-next", "--volume", vol, srv.URL+"/trees/web/")
		if code != exitCheck || !strings.Contains(errs, "the initrd named by netboot.ipxe: "+srv.URL+"/trees/web/initrd.zst: 404 Not Found") {
			t.Errorf("install-next = %d\n%s%s", code, out, errs)
		}
		if got := names(vol); len(got) != 0 {
			t.Errorf("the volume holds %v; want nothing written", got)
		}
	})
}

func TestInstallNextUsage(t *testing.T) {
	vol, src := t.TempDir(), kexecTree(t, "one")
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"--help"}, exitOK, "--sign KEYFILE"},
		{[]string{"--help"}, exitOK, "--previous"},
		{[]string{"--help"}, exitOK, "--volume DIR"},
		{nil, exitUsage, "SRC is missing"},
		{[]string{src}, exitUsage, "--volume DIR is missing"},
		{[]string{"--volume", filepath.Join(vol, "nope"), src}, exitUsage, "no such file or directory"},
		{[]string{"--volume", vol, src, src}, exitUsage, "one SRC expected"},
		{[]string{"--volume", vol, "ftp://host/tree"}, exitUsage, "only http:// and https:// URLs"},
		{[]string{"--frobnicate"}, exitUsage, "flag provided but not defined"},
		{[]string{"--volume", vol, filepath.Join(vol, "nope")}, exitCheck, "SRC stat"},
	} {
		code, out, errs := cli(t, append([]string{"install-next"}, tc.args...)...)
		if code != tc.code || !strings.Contains(out+errs, tc.want) {
			t.Errorf("install-next %q = %d\n%s%s\nwant %d and %q", tc.args, code, out, errs, tc.code, tc.want)
		}
	}
}

// A rotation that fails half way is undone: current and previous are as
// they were, and nothing is left aside.
func TestRotateUndo(t *testing.T) {
	for _, keep := range []bool{true, false} {
		boot := t.TempDir()
		for _, tree := range []string{"current", "previous"} {
			if err := os.Mkdir(filepath.Join(boot, tree), 0o755); err != nil {
				t.Fatal(err)
			}
			write(t, filepath.Join(boot, tree, "bzImage"), tree)
		}
		before := snapshot(t, boot)
		if _, err := rotate(boot, filepath.Join(boot, ".new-gone"), keep); err == nil {
			t.Fatalf("rotate of a missing staging directory succeeded")
		}
		if after := snapshot(t, boot); !reflect.DeepEqual(after, before) {
			t.Errorf("previous=%v: after a failed rotation %v, want %v", keep, after, before)
		}
	}
}

// A tree whose kernel is not a bzImage is refused before anything moves,
// and an install resets the boot counter of the tree it installs.
func TestInstallNextRefusesANonKernelAndResetsTheCount(t *testing.T) {
	vol := t.TempDir()
	src := kexecTree(t, "elf")
	write(t, filepath.Join(src, "bzImage"), "\x7fELF"+strings.Repeat("v", 2048))
	code, out, errs := cli(t, "install-next", "--volume", vol, src)
	if code != exitCheck || !strings.Contains(errs, "bzImage is not a bzImage") {
		t.Fatalf("install-next of an ELF kernel = %d\n%s%s", code, out, errs)
	}
	if _, err := os.Stat(filepath.Join(vol, "boot", "current")); err == nil {
		t.Error("a refused tree became current")
	}
	src = kexecTree(t, "good")
	write(t, filepath.Join(src, "boot-count"), "3\n") // copied from an old tree by hand
	code, out, errs = cli(t, "install-next", "--volume", vol, src)
	if code != exitOK {
		t.Fatalf("install-next = %d\n%s%s", code, out, errs)
	}
	if _, err := os.Stat(filepath.Join(vol, "boot", "current", "boot-count")); err == nil {
		t.Error("the new current tree has a boot count")
	}
	if !strings.Contains(out, "boot counter reset") || !strings.Contains(out, "booted-ok") {
		t.Errorf("output does not explain the success mark:\n%s", out)
	}
}

// --sign signs only what install-next verified: a directory, or a URL
// whose own SHA256SUMS.minisig checks against --source-key; never a plain
// download.
func TestInstallNextSignsOnlyWhatItVerified(t *testing.T) {
	upPub, upPriv, err := minisign.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	_, ourPriv, _ := minisign.GenerateKey(nil)
	otherPub, _, _ := minisign.GenerateKey(nil)
	dir := t.TempDir()
	keyFile := filepath.Join(dir, "minisign.key")
	sec, _ := ourPriv.MarshalText()
	write(t, keyFile, string(sec)+"\n")
	pubFile := func(name string, k minisign.PublicKey) string {
		b, _ := k.MarshalText()
		p := filepath.Join(dir, name)
		write(t, p, string(b)+"\n")
		return p
	}
	upstream, other := pubFile("upstream.pub", upPub), pubFile("other.pub", otherPub)

	src := kexecTree(t, "web")
	os.Remove(filepath.Join(src, "netboot.ipxe"))
	os.Remove(filepath.Join(src, "variables.ipxe"))
	sums := verify.Sums{}
	for _, n := range []string{"kexec-boot", "bzImage", "initrd.zst"} {
		b, _ := os.ReadFile(filepath.Join(src, n))
		sums[n] = sha256.Sum256(b)
	}
	sumsText := verify.FormatSums(sums)
	write(t, filepath.Join(src, verify.SumsFile), string(sumsText))
	unsigned := t.TempDir()
	for _, n := range []string{"kexec-boot", "bzImage", "initrd.zst", verify.SumsFile} {
		copyTestFile(t, filepath.Join(src, n), filepath.Join(unsigned, n))
	}
	write(t, filepath.Join(src, verify.SigFile), string(minisign.Sign(upPriv, sumsText)))
	srv := httptest.NewServer(http.FileServer(http.Dir(filepath.Dir(src))))
	defer srv.Close()
	signedURL := srv.URL + "/" + filepath.Base(src) + "/"
	unsignedSrv := httptest.NewServer(http.FileServer(http.Dir(filepath.Dir(unsigned))))
	defer unsignedSrv.Close()
	unsignedURL := unsignedSrv.URL + "/" + filepath.Base(unsigned) + "/"

	for _, tc := range []struct {
		name string
		args []string
		code int
		want string
	}{
		{"a plain download", []string{"--sign", keyFile, signedURL}, exitUsage, "needs --source-key PUBKEY"},
		{"the wrong upstream key", []string{"--sign", keyFile, "--source-key", other, signedURL}, exitCheck, "refusing to sign"},
		{"no upstream signature", []string{"--sign", keyFile, "--source-key", upstream, unsignedURL}, exitCheck, "refusing to sign"},
		{"--source-key without --sign", []string{"--source-key", upstream, signedURL}, exitUsage, "--source-key goes with --sign"},
		{"verified by its own signature", []string{"--sign", keyFile, "--source-key", upstream, signedURL}, exitOK, "SHA256SUMS.minisig by key " + verify.KeyID(ourPriv.ID())},
	} {
		t.Run(tc.name, func(t *testing.T) {
			vol := t.TempDir()
			code, out, errs := cli(t, append([]string{"install-next", "--volume", vol}, tc.args...)...)
			if code != tc.code || !strings.Contains(out+errs, tc.want) {
				t.Errorf("install-next = %d, want %d with %q\n%s%s", code, tc.code, tc.want, out, errs)
			}
			if tc.code != exitOK && len(names(vol)) != 0 {
				t.Errorf("the volume holds %v; want nothing written", names(vol))
			}
		})
	}
}

func copyTestFile(t *testing.T, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	write(t, to, string(b))
}
