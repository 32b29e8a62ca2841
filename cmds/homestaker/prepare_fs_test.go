package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/homestaker/homestaker-boot/init/storage"
)

// These tests prepare ext4 and xfs volumes (--fs), whose names are plain
// directories, on image files; like the Btrfs ones they need root and
// loop devices, and also the kernel's ext4/xfs and the mkfs tools.

// needFS skips unless the kernel mounts f and its mkfs is installed.
func needFS(t *testing.T, f *filesystem) {
	t.Helper()
	needRoot(t)
	if _, err := exec.LookPath(f.mkfs); err != nil {
		t.Skipf("%s is not installed (%s)", f.mkfs, f.pkg)
	}
	if fs, _ := os.ReadFile("/proc/filesystems"); !bytes.Contains(fs, []byte("\t"+f.name+"\n")) {
		t.Skipf("the kernel has no %s (modprobe %s)", f.name, f.name)
	}
}

// newImageSize is newImage of size bytes: mkfs.xfs wants 300 MB at least.
func newImageSize(t *testing.T, size int64) string {
	t.Helper()
	img := newImage(t)
	if err := os.Truncate(img, size); err != nil {
		t.Fatal(err)
	}
	return img
}

// toolLabel reads the label with the filesystem's own tools, not this
// repository's readers.
func toolLabel(t *testing.T, f *filesystem, img string) string {
	t.Helper()
	switch f {
	case ext4FS:
		out, err := exec.Command("dumpe2fs", "-h", img).CombinedOutput()
		if err != nil {
			t.Fatalf("dumpe2fs -h: %v\n%s", err, out)
		}
		for _, l := range strings.Split(string(out), "\n") {
			if v, ok := strings.CutPrefix(l, "Filesystem volume name:"); ok {
				return strings.TrimSpace(v)
			}
		}
		t.Fatalf("dumpe2fs -h prints no volume name:\n%s", out)
	case xfsFS:
		out, err := exec.Command("xfs_db", "-r", "-c", "label", img).CombinedOutput()
		if err != nil {
			t.Fatalf("xfs_db -c label: %v\n%s", err, out)
		}
		v, ok := strings.CutPrefix(strings.TrimSpace(string(out)), "label = ")
		if !ok {
			t.Fatalf("xfs_db -c label printed %q", out)
		}
		return strings.Trim(v, `"`)
	}
	t.Fatalf("no tool for %s", f.name)
	return ""
}

// fsckClean runs the filesystem's own checker read-only: prepare must
// leave it consistent and unmounted cleanly.
func fsckClean(t *testing.T, f *filesystem, img string) {
	t.Helper()
	var cmd *exec.Cmd
	switch f {
	case ext4FS:
		cmd = exec.Command("e2fsck", "-fn", img)
	case xfsFS:
		cmd = exec.Command("xfs_repair", "-n", img)
	}
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Errorf("%s: %v\n%s", strings.Join(cmd.Args, " "), err, out)
	}
}

// editImage mounts the image's top level, calls fn with the mount point
// and unmounts it before returning.
func editImage(t *testing.T, img string, fn func(dir string)) {
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
	fn(top.Dir)
}

// assertDirectories checks that the names are plain directories (not
// links, not subvolumes) with their modes.
func assertDirectories(t *testing.T, dir string, modes map[string]os.FileMode) {
	t.Helper()
	for name, want := range modes {
		p := filepath.Join(dir, name)
		st, err := os.Lstat(p)
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if !st.IsDir() || st.Mode().Perm() != want {
			t.Errorf("%s is %v, want a directory with mode %04o", name, st.Mode(), want)
		}
		if k, err := storage.KindOf(p); err != nil || k != storage.KindDirectory {
			t.Errorf("storage.KindOf(%s) = %q, %v; want a directory", name, k, err)
		}
	}
}

func TestPrepareDirectories(t *testing.T) {
	for _, f := range []*filesystem{ext4FS, xfsFS} {
		t.Run(f.name, func(t *testing.T) {
			needFS(t, f)
			img := newImageSize(t, 320<<20)
			out := prepareOK(t, append(append([]string{"--fs", f.name}, wgArgs(t)...), img)...)
			for _, want := range []string{
				"formatting: " + f.mkfs + " -L homestaker " + img,
				"formatted: " + f.name + ` "homestaker"`,
				"directory secrets: created (mode 0700)",
				"directory erigon: created (mode 0755)",
				"note: snapshots of the client data before an update need Btrfs: on this " + f.name + " volume",
			} {
				if !strings.Contains(out, want) {
					t.Errorf("the output lacks %q:\n%s", want, out)
				}
			}
			if strings.Contains(out, "subvolume secrets") || strings.Contains(out, "subvolid") {
				t.Errorf("the output speaks of subvolumes on %s:\n%s", f.name, out)
			}
			if got := toolLabel(t, f, img); got != "homestaker" {
				t.Errorf("the label is %q, want homestaker", got)
			}
			fsckClean(t, f, img)

			// The secrets, as on Btrfs, in the legacy layout.
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
			if !bytes.Equal(files["erigon/jwt.hex"], files["lighthouse/jwt.hex"]) {
				t.Error("the two JWT copies differ")
			}
			wgPub, fp := publicFacts(t, files, "secrets/wireguard/wg0.conf")
			if !strings.Contains(out, wgPub) || !strings.Contains(out, fp) {
				t.Errorf("the output lacks the WireGuard public key or the SSH fingerprint:\n%s", out)
			}
			assertNoSecrets(t, out, files)

			// Client data written in between, as a synced node has it.
			keep := []byte("chain data to keep\n")
			editImage(t, img, func(dir string) {
				assertDirectories(t, dir, map[string]os.FileMode{"secrets": 0o700, "erigon": 0o755, "lighthouse": 0o755})
				code, checkOut, _ := cli(t, "check", dir)
				if code != exitOK || !strings.Contains(checkOut, "(directories)") || strings.Contains(checkOut, "WARN") {
					t.Errorf("check of the prepared %s = %d, want OK naming the directories:\n%s", f.name, code, checkOut)
				}
				if err := os.MkdirAll(filepath.Join(dir, "erigon/chaindata"), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(filepath.Join(dir, "erigon/chaindata/mdbx.dat"), keep, 0o644); err != nil {
					t.Fatal(err)
				}
				if err := os.RemoveAll(filepath.Join(dir, "lighthouse")); err != nil {
					t.Fatal(err)
				}
			})

			// Again: reused, the missing directory added, the rest kept.
			out = prepareOK(t, "--fs", f.name, img)
			if !strings.Contains(out, "not formatting") || strings.Contains(out, f.mkfs) {
				t.Errorf("the second run formatted the volume:\n%s", out)
			}
			if !strings.Contains(out, "directory lighthouse: created") || !strings.Contains(out, "directory erigon: kept") {
				t.Errorf("the second run did not add lighthouse and keep erigon:\n%s", out)
			}
			after := volumeFiles(t, img)
			if !bytes.Equal(after["erigon/chaindata/mdbx.dat"], keep) {
				t.Errorf("the client data written in between is %q after the second run", after["erigon/chaindata/mdbx.dat"])
			}
			for _, rel := range []string{"erigon/jwt.hex", "secrets/wireguard/wg0.conf", "secrets/ssh/id_ed25519"} {
				if !bytes.Equal(files[rel], after[rel]) {
					t.Errorf("%s changed on the second run", rel)
				}
			}
			if !bytes.Equal(after["lighthouse/jwt.hex"], files["erigon/jwt.hex"]) {
				t.Error("the re-made lighthouse/ did not get the same JWT back")
			}
			fsckClean(t, f, img)
		})
	}
}

// A secrets directory open to others (mkdir -p leaves 0755, as on a
// volume made by HomestakerOS's guide) is a warning of check, and prepare
// keeps it as it is.
func TestCheckSecretsDirectoryOpen(t *testing.T) {
	needFS(t, ext4FS)
	img := newImageSize(t, 320<<20)
	prepareOK(t, "--fs", "ext4", img)
	editImage(t, img, func(dir string) {
		if err := os.Chmod(filepath.Join(dir, "secrets"), 0o755); err != nil {
			t.Fatal(err)
		}
	})
	out := prepareOK(t, "--fs", "ext4", img)
	if !strings.Contains(out, "directory secrets: kept") || !strings.Contains(out, "plain directory with mode 0755") {
		t.Errorf("prepare of a volume with secrets/ 0755:\n%s", out)
	}
	dir := mountImage(t, img)
	code, checkOut, _ := cli(t, "check", "--wg", "off", dir)
	want := filepath.Join(dir, "secrets") + " is a plain directory with mode 0755"
	if code != exitOK || !strings.Contains(checkOut, want) || !strings.Contains(checkOut, "chmod 700") {
		t.Errorf("check = %d, want 0 and a warning %q:\n%s", code, want, checkOut)
	}
	code, jsonOut, _ := cli(t, "check", "--json", "--wg", "off", dir)
	if code != exitOK || !strings.Contains(jsonOut, `"status": "warning"`) {
		t.Errorf("check --json = %d:\n%s", code, jsonOut)
	}
}

func TestPrepareLabelTooLong(t *testing.T) {
	for _, tc := range []struct {
		fs    string
		label string
		limit string
	}{
		{"xfs", "thirteen-byte", "at most 12 bytes"},
		{"ext4", "seventeen-bytes-x", "at most 16 bytes"},
		{"btrfs", strings.Repeat("b", 256), "255 bytes"},
	} {
		img := filepath.Join(t.TempDir(), "disk.img")
		if err := os.WriteFile(img, make([]byte, 1<<20), 0o600); err != nil {
			t.Fatal(err)
		}
		code, out, errOut := cli(t, "prepare", "--fs", tc.fs, "--label", tc.label, img)
		if code != exitUsage || !strings.Contains(errOut, tc.limit) || !strings.Contains(errOut, "--label") {
			t.Errorf("prepare --fs %s --label of %d bytes = %d, %q; want %d naming the limit (%s)\n%s", tc.fs, len(tc.label), code, errOut, exitUsage, tc.limit, out)
		}
		if b, _ := os.ReadFile(img); !bytes.Equal(b, make([]byte, 1<<20)) {
			t.Errorf("--fs %s: the image was written", tc.fs)
		}
	}
	code, _, errOut := cli(t, "prepare", "--fs", "zfs", "disk.img")
	if code != exitUsage || !strings.Contains(errOut, `--fs "zfs": one of btrfs, ext4, xfs expected`) {
		t.Errorf("prepare --fs zfs = %d, %q", code, errOut)
	}
}

// The longest label each superblock holds fits, with no NUL after it,
// and the reader finds it again on the second run.
func TestPrepareLongestLabel(t *testing.T) {
	for _, f := range []*filesystem{ext4FS, xfsFS} {
		t.Run(f.name, func(t *testing.T) {
			needFS(t, f)
			img := newImageSize(t, 320<<20)
			label := strings.Repeat("L", f.maxLabel)
			prepareOK(t, "--fs", f.name, "--label", label, img)
			if got := toolLabel(t, f, img); got != label {
				t.Errorf("the label is %q, want %q", got, label)
			}
			if out := prepareOK(t, "--fs", f.name, "--label", label, img); !strings.Contains(out, "not formatting") {
				t.Errorf("the second run:\n%s", out)
			}
		})
	}
}

// A volume labelled homestaker of another type than --fs is refused
// naming what is there and what to do; --force reformats it.
func TestPrepareRefusesOtherType(t *testing.T) {
	for _, tc := range []struct {
		there, want *filesystem
		msg         string
	}{
		{ext4FS, btrfsFS, `ext4 labelled "homestaker"`},
		{ext4FS, xfsFS, `ext4 labelled "homestaker"`},
		{xfsFS, ext4FS, `xfs labelled "homestaker"`},
		{btrfsFS, ext4FS, `btrfs labelled "homestaker"`},
	} {
		t.Run(tc.there.name+" --fs "+tc.want.name, func(t *testing.T) {
			needFS(t, tc.there)
			needFS(t, tc.want)
			img := newImageSize(t, 320<<20)
			prepareOK(t, "--fs", tc.there.name, img)
			before := sum(t, img)
			code, out, errOut := cli(t, "prepare", "--fs", tc.want.name, img)
			for _, want := range []string{tc.msg, "--fs is " + tc.want.name, "run prepare --fs " + tc.there.name, "--force formats it as " + tc.want.name, img} {
				if !strings.Contains(errOut, want) {
					t.Errorf("the refusal lacks %q: %q", want, errOut)
				}
			}
			if code != exitCheck {
				t.Errorf("prepare = %d, want %d\n%s", code, exitCheck, out)
			}
			if sum(t, img) != before {
				t.Fatal("the refused image was changed")
			}

			out = prepareOK(t, "--force", "--fs", tc.want.name, img)
			if !strings.Contains(out, "--force: formatting") || !strings.Contains(out, tc.want.mkfs+" -L homestaker "+tc.want.force+" "+img) {
				t.Errorf("prepare --force:\n%s", out)
			}
			if got := imageFS(t, img); got != tc.want {
				t.Errorf("after --force the image holds %s, want %s", got.name, tc.want.name)
			}
		})
	}
}

// On ext4 and xfs a file where a directory belongs is refused by name.
func TestPrepareRefusesFileForDirectory(t *testing.T) {
	needFS(t, ext4FS)
	img := newImageSize(t, 320<<20)
	prepareOK(t, "--fs", "ext4", img)
	editImage(t, img, func(dir string) {
		if err := os.Symlink("/etc", filepath.Join(dir, "addons")); err != nil {
			t.Fatal(err)
		}
	})
	code, _, errOut := cli(t, "prepare", "--fs", "ext4", "--subvols", "secrets,erigon,lighthouse,addons", img)
	if code != exitCheck || !strings.Contains(errOut, `symbolic link named "addons"`) {
		t.Errorf("prepare with a link for a directory = %d, %q", code, errOut)
	}
}
