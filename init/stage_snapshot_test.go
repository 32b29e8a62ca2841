package main

import (
	"reflect"
	"strings"
	"testing"

	"github.com/homestaker/homestaker-boot/init/config"
	"github.com/homestaker/homestaker-boot/init/storage"
)

func TestSnapshotNames(t *testing.T) {
	sub := func(n string) storage.Name { return storage.Name{Name: n, Kind: storage.KindSubvolume} }
	dir := func(n string) storage.Name { return storage.Name{Name: n, Kind: storage.KindDirectory} }
	for _, c := range []struct {
		cmdline string
		fs      string
		names   []storage.Name
		want    []string
		notice  string
	}{
		{"", storage.FSBtrfs, []storage.Name{sub("secrets"), sub("erigon"), sub("lighthouse")}, []string{"erigon", "lighthouse"}, ""},
		// Add-ons are not client data; the secrets never are.
		{"", storage.FSBtrfs, []storage.Name{sub("secrets"), sub("geth"), sub("addons"), sub("teku")}, []string{"geth", "teku"}, ""},
		{"", storage.FSBtrfs, []storage.Name{sub("secrets"), dir("erigon"), sub("lighthouse")}, []string{"lighthouse"}, "erigon is a plain directory, not a Btrfs subvolume, and cannot be snapshotted"},
		{"", storage.FSExt4, []storage.Name{dir("secrets"), dir("erigon"), dir("lighthouse")}, nil, "the volume is ext4, not Btrfs: erigon, lighthouse cannot be snapshotted"},
		{"homestaker.snapshot=off", storage.FSBtrfs, []storage.Name{sub("secrets"), sub("erigon")}, nil, ""},
		{"homestaker.snapshot=addons,secrets,nimbus", storage.FSBtrfs, []storage.Name{sub("secrets"), sub("erigon"), sub("addons")}, []string{"addons"}, "homestaker.snapshot names secrets (the secrets are never snapshotted), nimbus (not in homestaker.subvols)"},
	} {
		cfg, problems := config.Parse(c.cmdline, config.Defaults())
		if len(problems) > 0 {
			t.Fatalf("%s: %v", c.cmdline, problems)
		}
		b := &boot{cfg: cfg, volume: &storage.Volume{Type: c.fs, Names: c.names}}
		got, notice := b.snapshotNames()
		if !reflect.DeepEqual(got, c.want) || (c.notice == "") != (notice == "") || !strings.Contains(notice, c.notice) {
			t.Errorf("%q on %s %v: %v, %q; want %v, %q", c.cmdline, c.fs, c.names, got, notice, c.want, c.notice)
		}
		if strings.Contains(notice, "cannot be snapshotted") && !strings.Contains(notice, "boot counting falls back") {
			t.Errorf("the notice does not say what a fallback means: %q", notice)
		}
	}
}
