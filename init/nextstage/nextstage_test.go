package nextstage

import (
	"context"
	"crypto/sha256"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/homestaker/homestaker-boot/init/config"
)

const script = `#!/usr/bin/env bash
SCRIPT_DIR=$( cd -- "$( dirname -- "${BASH_SOURCE[0]}" )" &> /dev/null && pwd )
kexec --load ${SCRIPT_DIR}/bzImage \
  --initrd=${SCRIPT_DIR}/initrd.zst \
  --command-line "init=/nix/store/x-nixos-system-y/init boot.shell_on_fail"
systemctl kexec
`

// tree writes a kexec tree with SHA256SUMS into a new directory.
func tree(t *testing.T, withSums bool) string {
	t.Helper()
	dir := t.TempDir()
	files := map[string]string{"kexec-boot": script, "bzImage": "kernel bytes", "initrd.zst": "initrd bytes"}
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
	_, err := Locate(context.Background(), []config.Source{src("/nonexistent"), {Kind: config.SourceVolume, Path: "/boot/current", Raw: "volume:/boot/current"}}, Env{}, nil)
	if err == nil || !strings.Contains(err.Error(), "initramfs:/nonexistent: no kexec-boot or netboot.ipxe") || !strings.Contains(err.Error(), "volume:/boot/current: the volume is not mounted") {
		t.Fatalf("err = %v, want every source and why", err)
	}
}

func TestLocateWithoutSumsWarns(t *testing.T) {
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
	defer func(d time.Duration) { reachTimeout = d }(reachTimeout)
	reachTimeout = 300 * time.Millisecond
	u := config.Source{Kind: config.SourceHTTP, URL: "http://127.0.0.1:9/tree/", Raw: "http://127.0.0.1:9/tree/"}
	start := time.Now()
	_, err := Locate(context.Background(), []config.Source{u}, Env{HTTP: http.DefaultClient, TmpDir: t.TempDir()}, nil)
	if err == nil || !strings.Contains(err.Error(), "http://127.0.0.1:9/tree/") {
		t.Fatalf("err = %v", err)
	}
	if time.Since(start) > 5*time.Second {
		t.Errorf("gave up after %s", time.Since(start))
	}
}
