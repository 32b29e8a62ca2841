package main

import (
	"context"
	"path/filepath"
	"strings"

	"github.com/homestaker/homestaker-boot/init/config"
	"github.com/homestaker/homestaker-boot/init/plan"
	"github.com/homestaker/homestaker-boot/init/report"
	"github.com/homestaker/homestaker-boot/init/secrets"
	"github.com/homestaker/homestaker-boot/init/storage"
)

// runStorage finds the volume by label and mounts it.
func runStorage(ctx context.Context, rec *plan.Record, cfg config.Config) (*storage.Volume, error) {
	o := storage.Options{
		Label: cfg.Label, LabelSet: cfg.LabelSet, Mnt: cfg.Mnt, Subvols: cfg.Subvols, Degraded: cfg.Degraded,
		SysBlock: "/sys/class/block", DevDir: "/dev",
	}
	fs, fallback, waited, err := storage.Find(ctx, o, rec.Warn)
	rec.Fact("waited_for_devices_ms", waited.Milliseconds())
	if err != nil {
		return nil, err
	}
	if fallback {
		rec.Warn("no filesystem labelled %q; using %q, the label the getting-started guide also uses (homestaker.label= silences this)", cfg.Label, fs.Label)
	}
	v, err := storage.Mount(fs, o, rec.Warn)
	if err != nil {
		return nil, err
	}
	v.Fallback, v.WaitedMS = fallback, waited.Milliseconds()
	rec.Fact("volume", v)
	state := ""
	if v.Degraded {
		state = ", DEGRADED"
	}
	rec.Summary("%s (%d of %d device%s: %s%s) mounted at %s, waited %dms for devices", v.Label, len(v.Devices), v.NumDevices, plural(int(v.NumDevices)), strings.Join(v.Devices, " "), state, cfg.Mnt, v.WaitedMS)
	return v, nil
}

// runSecrets generates the SSH host key when absent, then runs the checks
// `homestaker check` runs. A bad wg0.conf fails the stage only when the
// tunnel is required; the wireguard stage reports it either way.
func runSecrets(rec *plan.Record, cfg config.Config) error {
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

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}
