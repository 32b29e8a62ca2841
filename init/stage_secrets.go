package main

import (
	"context"
	"path/filepath"
	"strings"

	"github.com/homestaker/homestaker-boot/init/config"
	"github.com/homestaker/homestaker-boot/init/plan"
	"github.com/homestaker/homestaker-boot/init/report"
	"github.com/homestaker/homestaker-boot/init/secrets"
)

// secrets generates the SSH host key when absent, then runs the checks
// `homestaker check` runs. A bad wg0.conf fails the stage only when the
// tunnel is required; the wireguard stage reports it either way.
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
	r := secrets.CheckVolume(cfg.Mnt, secrets.Options{Subvols: cfg.Subvols, WGNeeded: cfg.WG != config.WGOff})
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
