package nextstage

import (
	"context"
	"crypto/sha256"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/homestaker/homestaker-boot/init/atomicfile"
	"github.com/homestaker/homestaker-boot/init/bootcount"
	"github.com/homestaker/homestaker-boot/init/config"
)

const script = `#!/usr/bin/env bash
SCRIPT_DIR=$( cd -- "$( dirname -- "${BASH_SOURCE[0]}" )" &> /dev/null && pwd )
kexec --load ${SCRIPT_DIR}/bzImage \
  --initrd=${SCRIPT_DIR}/initrd.zst \
  --command-line "init=/nix/store/x-nixos-system-y/init boot.shell_on_fail"
systemctl kexec
`

// fakeKernel is the start of an x86 bzImage: enough for the checks.
var fakeKernel = func() string {
	b := make([]byte, 0xa01) // past 4 sectors of setup code (setup_sects 0)
	b[0x1fe], b[0x1ff] = 0x55, 0xaa
	copy(b[0x202:], "HdrS\x0f\x02")
	b[0x211] = 0x01 // LOADED_HIGH
	b[0x236] = 0x03 // XLF_KERNEL_64, XLF_CAN_BE_LOADED_ABOVE_4G: kexec_file_load takes it
	return string(b)
}()

// tree writes a kexec tree with SHA256SUMS into a new directory.
func tree(t *testing.T, withSums bool) string {
	t.Helper()
	dir := t.TempDir()
	files := map[string]string{"kexec-boot": script, "bzImage": fakeKernel, "initrd.zst": "initrd bytes"}
	var sums strings.Builder
	for name, body := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&sums, "%x  %s\n", sha256.Sum256([]byte(body)), name)
	}
	if withSums {
		if err := os.WriteFile(filepath.Join(dir, "SHA256SUMS"), []byte(sums.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func src(path string) config.Source {
	return config.Source{Kind: config.SourceInitramfs, Path: path, Raw: "initramfs:" + path}
}

func TestLocateVerifiesAndFallsBack(t *testing.T) {
	t.Parallel()
	good := tree(t, true)
	bad := tree(t, true)
	if err := os.WriteFile(filepath.Join(bad, "initrd.zst"), []byte("tampered"), 0o644); err != nil {
		t.Fatal(err)
	}
	var skipped []string
	l, err := Locate(context.Background(), []config.Source{src(bad), src(good)}, Env{Mode: config.VerifyAuto}, func(s config.Source, err error) {
		skipped = append(skipped, fmt.Sprintf("%s: %v", s, err))
	})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if l.Dir != good || l.Verified.Mode != "checksum" || l.Tree.Cmdline != "init=/nix/store/x-nixos-system-y/init boot.shell_on_fail" {
		t.Errorf("loaded %s (%+v), want %s verified by checksum", l.Dir, l.Verified, good)
	}
	if len(skipped) != 1 || !strings.Contains(skipped[0], "initrd.zst: sha256 mismatch") {
		t.Errorf("skipped = %q, want the tampered initrd named", skipped)
	}
}

func TestLocateNothingUsable(t *testing.T) {
	t.Parallel()
	_, err := Locate(context.Background(), []config.Source{src("/nonexistent"), {Kind: config.SourceVolume, Path: "/boot/current", Raw: "volume:/boot/current"}}, Env{}, nil)
	if err == nil || !strings.Contains(err.Error(), "initramfs:/nonexistent: no kexec-boot or netboot.ipxe") || !strings.Contains(err.Error(), "volume:/boot/current: the volume is not mounted") {
		t.Fatalf("err = %v, want every source and why", err)
	}
}

func TestLocateWithoutSumsWarns(t *testing.T) {
	t.Parallel()
	l, err := Locate(context.Background(), []config.Source{src(tree(t, false))}, Env{Mode: config.VerifyChecksum}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if l.Verified.Warning == "" {
		t.Error("no warning for a tree without SHA256SUMS")
	}
}

// An HTTP source nobody answers is given up, and the boot goes on.
func TestLocateHTTPUnreachableGivesUp(t *testing.T) {
	t.Parallel()
	u := config.Source{Kind: config.SourceHTTP, URL: "http://127.0.0.1:9/tree/", Raw: "http://127.0.0.1:9/tree/"}
	start := time.Now()
	_, err := Locate(context.Background(), []config.Source{u}, Env{HTTP: http.DefaultClient, TmpDir: t.TempDir(), ReachTimeout: 300 * time.Millisecond}, nil)
	if err == nil || !strings.Contains(err.Error(), "http://127.0.0.1:9/tree/") {
		t.Fatalf("err = %v", err)
	}
	if time.Since(start) > 5*time.Second {
		t.Errorf("gave up after %s", time.Since(start))
	}
}

// A tree whose kernel is not a bzImage is refused where a fallback can
// still take over, not at the kexec.
func TestLocateRefusesANonKernel(t *testing.T) {
	t.Parallel()
	bad := tree(t, false)
	if err := os.WriteFile(filepath.Join(bad, "bzImage"), []byte("\x7fELF not a bzImage, a vmlinux"+strings.Repeat("x", 1024)), 0o644); err != nil {
		t.Fatal(err)
	}
	good := tree(t, false)
	var skipped []string
	l, err := Locate(context.Background(), []config.Source{src(bad), src(good)}, Env{Mode: config.VerifyOff}, func(s config.Source, err error) {
		skipped = append(skipped, err.Error())
	})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if l.Dir != good || len(skipped) != 1 || !strings.Contains(skipped[0], "bzImage is not a bzImage") {
		t.Errorf("loaded %s, skipped %q", l.Dir, skipped)
	}
}

func vol(path string) config.Source {
	return config.Source{Kind: config.SourceVolume, Path: path, Raw: "volume:" + path}
}

// volumeTrees makes a volume top level with trees at boot/current and
// boot/previous.
func volumeTrees(t *testing.T) string {
	top := t.TempDir()
	os.Mkdir(filepath.Join(top, "boot"), 0o755)
	for _, name := range []string{"current", "previous"} {
		if err := os.Rename(tree(t, true), filepath.Join(top, "boot", name)); err != nil {
			t.Fatal(err)
		}
	}
	return top
}

func TestBootCountFallsBack(t *testing.T) {
	t.Parallel()
	top := volumeTrees(t)
	current := filepath.Join(top, "boot/current")
	env := Env{Volume: top, Mode: config.VerifyChecksum, Tries: 2, Count: countOn(top)}
	sources := []config.Source{vol("/boot/current"), vol("/boot/previous")}
	for boot := 1; boot <= 2; boot++ {
		l, err := Locate(context.Background(), sources, env, nil)
		if err != nil {
			t.Fatal(err)
		}
		l.Close()
		if l.Dir != current || l.Count == nil || l.Count.Count != boot {
			t.Fatalf("boot %d: loaded %s with count %+v, want the current tree counted at %d", boot, l.Dir, l.Count, boot)
		}
	}
	var why string
	l, err := Locate(context.Background(), sources, env, func(s config.Source, err error) { why = err.Error() })
	if err != nil {
		t.Fatal(err)
	}
	l.Close()
	if l.Dir != filepath.Join(top, "boot/previous") || l.Count != nil {
		t.Errorf("third boot loaded %s (count %+v), want the previous tree, not counted (nothing follows it)", l.Dir, l.Count)
	}
	if !strings.Contains(why, "booted 2 times without a success mark (booted-ok; homestaker.tries=2)") {
		t.Errorf("the fallback said %q", why)
	}
	// HomestakerOS marks the tree good: it is booted again, uncounted.
	os.WriteFile(filepath.Join(current, bootcount.SuccessFile), nil, 0o644)
	l, err = Locate(context.Background(), sources, env, nil)
	if err != nil {
		t.Fatal(err)
	}
	l.Close()
	if l.Dir != current || l.Count != nil {
		t.Errorf("after the success mark: loaded %s counted %+v, want current, uncounted", l.Dir, l.Count)
	}
}

// The last source is booted whatever its count: it is the last resort.
func TestBootCountSparesTheLastSource(t *testing.T) {
	t.Parallel()
	top := volumeTrees(t)
	os.WriteFile(filepath.Join(top, "boot/current", bootcount.CountFile), []byte("9\n"), 0o644)
	l, err := Locate(context.Background(), []config.Source{vol("/boot/current")}, Env{Volume: top, Mode: config.VerifyChecksum, Tries: 3, Count: countOn(top)}, nil)
	if err != nil {
		t.Fatal(err)
	}
	l.Close()
	if l.Count != nil {
		t.Errorf("the only source was counted: %+v", l.Count)
	}
}

// countOn is the init's Env.Count on a volume at top.
func countOn(top string) func(config.Source, bootcount.State) (bool, error) {
	return func(src config.Source, s bootcount.State) (bool, error) {
		d, err := atomicfile.OpenDir(top, src.Path, false, 0)
		if err != nil {
			return false, err
		}
		defer d.Close()
		_, err = bootcount.Increment(d, s)
		return err == nil, err
	}
}

// A tree is counted when it is chosen: one whose files cannot even be read
// (here its kexec-boot is a FIFO, which would have hung the boot before
// volfile) uses up its tries and is given up like one that boots badly.
func TestBootCountCountsATreeThatFailsToLoad(t *testing.T) {
	t.Parallel()
	top := volumeTrees(t)
	current := filepath.Join(top, "boot/current")
	os.Remove(filepath.Join(current, "kexec-boot"))
	if err := syscall.Mkfifo(filepath.Join(current, "kexec-boot"), 0o644); err != nil {
		t.Fatal(err)
	}
	env := Env{Volume: top, Mode: config.VerifyChecksum, Tries: 2, Count: countOn(top)}
	sources := []config.Source{vol("/boot/current"), vol("/boot/previous")}
	var why []string
	for boot := 1; boot <= 3; boot++ {
		l, err := Locate(context.Background(), sources, env, func(s config.Source, err error) { why = append(why, err.Error()) })
		if err != nil {
			t.Fatal(err)
		}
		l.Close()
	}
	b, _ := os.ReadFile(filepath.Join(current, bootcount.CountFile))
	if strings.TrimSpace(string(b)) != "2" || !strings.Contains(why[len(why)-1], "booted 2 times without a success mark") {
		t.Errorf("count %q, refusals %q; want the FIFO tree counted twice, then given up", b, why)
	}
}
