package main

import (
	"context"
	"errors"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/homestaker/homestaker-boot/init/config"
	"github.com/homestaker/homestaker-boot/init/console"
	"github.com/homestaker/homestaker-boot/init/plan"
	"github.com/homestaker/homestaker-boot/init/report"
	"github.com/homestaker/homestaker-boot/init/secrets"
	"github.com/homestaker/homestaker-boot/init/wgconf"
)

// testBoot is a boot whose volume is a temporary directory holding
// secrets/wg0.conf.
func testBoot(t *testing.T) (*boot, string) {
	t.Helper()
	cfg := config.Defaults()
	cfg.Mnt = t.TempDir()
	dir := filepath.Join(cfg.Mnt, cfg.Subvols[0])
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	rep := &report.Report{}
	b := &boot{cfg: cfg, rep: rep}
	b.runner = &plan.Runner{Console: console.New(io.Discard, nil), Report: rep}
	return b, filepath.Join(dir, secrets.WGCurrent)
}

func writeWG0(t *testing.T, path string) {
	t.Helper()
	priv, err := wgconf.GeneratePrivateKey()
	if err != nil {
		t.Fatal(err)
	}
	peer, _ := wgconf.GeneratePrivateKey()
	conf := wgconf.Marshal(&wgconf.Config{
		Name:      "wg0",
		Interface: wgconf.Interface{PrivateKey: priv, Addresses: []netip.Prefix{netip.MustParsePrefix("10.8.0.2/24")}},
		Peers:     []wgconf.Peer{{PublicKey: peer.PublicKey(), AllowedIPs: []netip.Prefix{netip.MustParsePrefix("10.8.0.0/24")}}},
	})
	if err := os.WriteFile(path, conf, 0o600); err != nil {
		t.Fatal(err)
	}
}

// The secrets and wireguard stages, asking at the same time, get one
// parse of wg0.conf; a later change to the file is not seen in that run.
func TestWireGuardConfOncePerRun(t *testing.T) {
	b, path := testBoot(t)
	writeWG0(t, path)
	var wg sync.WaitGroup
	got := make([]secrets.WireGuard, 2)
	for i := range got {
		wg.Add(1)
		go func() {
			defer wg.Done()
			got[i] = b.wireGuardConf()
		}()
	}
	wg.Wait()
	if got[0].Config == nil || got[0].Check.Status != report.OK {
		t.Fatalf("wg0.conf check = %+v, want OK", got[0].Check)
	}
	if got[0].Config != got[1].Config {
		t.Error("the two stages got two parses of wg0.conf")
	}
	if err := os.WriteFile(path, []byte("[Interface]\nbroken\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if again := b.wireGuardConf(); again.Config != got[0].Config {
		t.Error("wg0.conf read again within one run")
	}
}

// A retry runs the plan again: the stage that failed on a bad wg0.conf
// reads the file the operator has fixed, not the failed parse.
func TestWireGuardConfRetryRereads(t *testing.T) {
	b, path := testBoot(t)
	if err := os.WriteFile(path, []byte("[Interface]\nbroken\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	var seen []secrets.WireGuard
	stages := []plan.Stage{{Name: "wireguard", Run: func(ctx context.Context, rec *plan.Record) error {
		w := b.wireGuardConf()
		seen = append(seen, w)
		if w.Config == nil {
			return errors.New(w.Check.Message)
		}
		return nil
	}}}
	if f := b.run(stages); f == nil {
		t.Fatal("a broken wg0.conf passed")
	}
	writeWG0(t, path) // the operator's fix, in the rescue shell
	if f := b.run(stages); f != nil {
		t.Fatalf("the retry failed: %s", f.Found)
	}
	if len(seen) != 2 || seen[0].Check.Status != report.Failed || seen[1].Config == nil {
		t.Errorf("checks seen: %+v", seen)
	}
}
