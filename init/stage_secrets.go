package main

import (
	"context"
	"path/filepath"
	"strings"
	"sync"

	"github.com/homestaker/homestaker-boot/init/config"
	"github.com/homestaker/homestaker-boot/init/plan"
	"github.com/homestaker/homestaker-boot/init/report"
	"github.com/homestaker/homestaker-boot/init/secrets"
)

// secrets generates the SSH host key when absent, then runs the checks
// `homestaker check` runs, the wg0.conf one shared with the wireguard
// stage. A bad wg0.conf fails the stage only when the tunnel is required;
// the wireguard stage reports it either way.
func (b *boot) secrets(ctx context.Context, rec *plan.Record) error {
	cfg := b.cfg
	secretsDir := filepath.Join(cfg.Mnt, cfg.Subvols[0])
	fp, generated, err := secrets.EnsureHostKey(secretsDir, "root@homestaker")
	if err != nil {
		return report.Fail("an SSH host key at "+filepath.Join(cfg.Subvols[0], secrets.HostKey), "generating it failed: "+err.Error(),
			"check that the secrets subvolume is writable and not full")
	}
	if generated {
		rec.Printf("generated the SSH host key %s/%s: %s", cfg.Subvols[0], secrets.HostKey, fp)
		rec.Fact("ssh_host_key_generated", true)
	}
	wg0 := b.wireGuardConf()
	r := secrets.CheckVolume(cfg.Mnt, secrets.Options{Subvols: cfg.Subvols, WGNeeded: cfg.WG != config.WGOff, WireGuard: &wg0})
	var failed, actions, summary []string
	for _, c := range r.Checks {
		rec.Fact(c.Name, c)
		switch {
		case c.Status == report.Failed && (c.Name != "wireguard" || cfg.WG == config.WGRequired):
			failed = append(failed, c.Name+": "+c.Message)
			if c.Action != "" {
				actions = append(actions, c.Name+": "+c.Action)
			}
		case c.Status == report.Failed, c.Status == report.Warning:
			rec.Warn("%s: %s", c.Name, c.Message)
		default:
			rec.Printf("%s: %s", c.Name, c.Message)
		}
		if c.Status != report.Failed {
			summary = append(summary, c.Name)
		}
	}
	if len(failed) > 0 {
		return report.Fail("the secrets the clients and the tunnel need, valid and consistent", strings.Join(failed, "\n"), strings.Join(actions, "\n"))
	}
	rec.Summary("%s checked", strings.Join(summary, ", "))
	return nil
}

// wg0Conf is one run's check of wg0.conf, shared by the secrets and
// wireguard stages: the file is read and parsed once, by whichever asks
// first, since they run concurrently (the tunnel does not wait for the
// secrets stage).
type wg0Conf struct {
	mu  sync.Mutex
	res *secrets.WireGuard // guarded by mu; nil until asked in this run
}

// wireGuardConf returns wg0.conf as found and checked in this run of the
// plan (secrets.CheckWireGuard, the check `homestaker check` runs).
func (b *boot) wireGuardConf() secrets.WireGuard {
	b.wg0.mu.Lock()
	defer b.wg0.mu.Unlock()
	if b.wg0.res == nil {
		r := secrets.CheckWireGuard(filepath.Join(b.cfg.Mnt, b.cfg.Subvols[0]), b.cfg.Subvols[0], b.cfg.WG != config.WGOff)
		b.wg0.res = &r
	}
	return *b.wg0.res
}

// forget drops the check, so that the next run of the plan (a retry,
// after the operator fixed the file) reads wg0.conf again.
func (w *wg0Conf) forget() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.res = nil
}
