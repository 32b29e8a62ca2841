package main

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/klauspost/compress/zstd"
	"github.com/u-root/mkuimage/cpio"
)

// The same inputs give the same bytes, and the archive holds what the init
// needs: /init, a shell, the baked defaults and the module closure.
func TestBuildIsReproducibleAndComplete(t *testing.T) {
	operatorKey := filepath.Join(t.TempDir(), "laptop.pub")
	os.WriteFile(operatorKey, []byte(testAuthorizedKey+"\n"), 0o644)
	modules, _ := filepath.Glob("../.cache/kernel/current/lib/modules/*")
	if len(modules) != 1 {
		t.Fatal("no test kernel modules in .cache/kernel/current: run `make deps`")
	}
	var outs [2][]byte
	for i := range outs {
		o := options{
			output:         filepath.Join(t.TempDir(), "initramfs.cpio.zst"),
			modulesDir:     modules[0],
			modules:        []string{"btrfs", "virtio_rng"},
			defaults:       "homestaker.onfail=reboot:60",
			authorizedKeys: []string{operatorKey},
		}
		if err := build(o); err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(o.output)
		if err != nil {
			t.Fatal(err)
		}
		outs[i] = b
	}
	if !bytes.Equal(outs[0], outs[1]) {
		t.Fatal("two builds from the same inputs differ")
	}

	dec, err := zstd.NewReader(bytes.NewReader(outs[0]))
	if err != nil {
		t.Fatal(err)
	}
	raw, err := io.ReadAll(dec)
	if err != nil {
		t.Fatal(err)
	}
	recs, err := cpio.ReadAllRecords(cpio.Newc.Reader(bytes.NewReader(raw)))
	if err != nil {
		t.Fatal(err)
	}
	files := map[string]cpio.Record{}
	for _, r := range recs {
		files[r.Name] = r
	}
	release := filepath.Base(modules[0])
	for _, want := range []string{
		"init", "bin/sh", "bbin/gosh", "bbin/dmesg", "etc/homestaker/defaults",
		"etc/homestaker/authorized_keys.d/laptop.pub",
		"lib/modules/" + release + "/modules.dep",
		"lib/modules/" + release + "/kernel/fs/btrfs/btrfs.ko",
		"lib/modules/" + release + "/kernel/lib/libcrc32c.ko",
		"lib/modules/" + release + "/kernel/crypto/crc32c_generic.ko",
	} {
		if _, ok := files[want]; !ok {
			t.Errorf("archive lacks %s", want)
		}
	}
	if r, ok := files["etc/homestaker/defaults"]; ok {
		b, _ := io.ReadAll(io.NewSectionReader(r.ReaderAt, 0, int64(r.FileSize)))
		if !strings.Contains(string(b), "homestaker.onfail=reboot:60") {
			t.Errorf("baked defaults = %q", b)
		}
	}
	if _, ok := files["lib/modules/"+release+"/kernel/drivers/net/ethernet/intel/e1000/e1000.ko"]; ok {
		t.Error("archive carries e1000, which was not asked for")
	}
}

// testAuthorizedKey is an operator's public key line.
const testAuthorizedKey = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIJeaTpxFxiZhDk6bbZwZV8CeEJkaIKqhQE4LG+Omkq4T operator@laptop"

func TestBuildRefusesAFileWithoutKeys(t *testing.T) {
	notKeys := filepath.Join(t.TempDir(), "id_ed25519")
	os.WriteFile(notKeys, []byte("-----BEGIN OPENSSH PRIVATE KEY-----\nnot this one\n-----END OPENSSH PRIVATE KEY-----\n"), 0o600)
	err := build(options{output: filepath.Join(t.TempDir(), "x.cpio.zst"), authorizedKeys: []string{notKeys}})
	if err == nil || !strings.Contains(err.Error(), "-authorized-keys") || !strings.Contains(err.Error(), notKeys) {
		t.Fatalf("build with a private key as authorized keys: %v", err)
	}
}

func TestBuildRefusesBadDefaults(t *testing.T) {
	err := build(options{output: filepath.Join(t.TempDir(), "x.cpio.zst"), defaults: "homestaker.onfail=explode"})
	if err == nil || !strings.Contains(err.Error(), "homestaker.onfail") {
		t.Fatalf("build with a bad default: %v, want an error naming homestaker.onfail", err)
	}
}
