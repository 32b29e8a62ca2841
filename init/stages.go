package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

	"github.com/homestaker/homestaker-boot/init/bootcount"
	"github.com/homestaker/homestaker-boot/init/config"
	"github.com/homestaker/homestaker-boot/init/console"
	"github.com/homestaker/homestaker-boot/init/control"
	"github.com/homestaker/homestaker-boot/init/fetch"
	"github.com/homestaker/homestaker-boot/init/handover"
	"github.com/homestaker/homestaker-boot/init/kmod"
	"github.com/homestaker/homestaker-boot/init/netup"
	"github.com/homestaker/homestaker-boot/init/nextstage"
	"github.com/homestaker/homestaker-boot/init/plan"
	"github.com/homestaker/homestaker-boot/init/report"
	"github.com/homestaker/homestaker-boot/init/rescue"
	"github.com/homestaker/homestaker-boot/init/secrets"
	"github.com/homestaker/homestaker-boot/init/storage"
	"github.com/homestaker/homestaker-boot/init/verify"
	"github.com/homestaker/homestaker-boot/init/watchdog"
	"github.com/homestaker/homestaker-boot/init/wg"
)

// Where the initramfs keeps what it trusts: minisign public keys (one per
// file, so an appended cpio archive can add one) and the CA bundle for
// https sources.
const (
	trustedKeysDir = "/etc/homestaker/trusted.d"
	caBundle       = "/etc/ssl/certs/ca-certificates.crt"
	reportsDir     = "boot/reports" // on the volume's top level
)

// boot is the state the stages hand on to each other. Each field is
// written by one stage and read only by stages that run after it (the
// plan's After lists guarantee the order).
type boot struct {
	cfg config.Config
	con *console.Console
	rep *report.Report

	netw   *netup.State      // network
	volume *storage.Volume   // storage
	tunnel *wg.Tunnel        // wireguard
	next   *nextstage.Loaded // nextstage

	dog      *watchdog.Dog   // early; nil when the machine has none
	ctl      *control.Server // the first failure: `homestaker retry`
	rescue   *rescue.Server  // the first failure with the tunnel up
	loggedIn chan string     // rescue logins, to cancel a reboot countdown

	runner   *plan.Runner
	planning atomic.Bool // the plan runs (and the operator is not in a break shell)
}

// early finishes the early stage: what the mounts and the configuration
// found, and the kernel modules.
func (b *boot) early(ctx context.Context, rec *plan.Record, mountErr error, problems []config.Problem) error {
	if mountErr != nil {
		rec.Warn("%v", mountErr)
	}
	var bad []string
	for _, p := range problems {
		if p.Unknown {
			rec.Warn("%s", p.Error())
			continue
		}
		bad = append(bad, p.Error())
	}
	if len(bad) > 0 {
		return report.Fail("valid homestaker.* parameters on the kernel command line", strings.Join(bad, "\n"),
			"correct the parameter in the boot loader's command line (or the PXE script), then reboot; `cat /proc/cmdline` shows what the kernel got")
	}
	if err := linkCLI(); err != nil {
		rec.Warn("`homestaker retry` will not be on the rescue shell's PATH: %v", err)
	}
	// The watchdog is armed once its driver is loaded, at the end of the
	// stage.
	defer b.armWatchdog(rec)

	release := kernelRelease()
	dir := "/lib/modules/" + release
	if _, err := os.Stat(dir); err != nil {
		carried, _ := os.ReadDir("/lib/modules")
		if len(carried) > 0 {
			rec.Warn("this initramfs carries modules for %s, not for the running kernel %s: no modules loaded; rebuild the initramfs for this kernel", carried[0].Name(), release)
		}
		rec.Summary("no kernel modules for %s", release)
		return nil
	}
	// Drivers for the devices present (as udev's coldplug would), plus what
	// the boot needs that no device asks for: Btrfs, the tunnel's tun, and
	// the disk drivers for devices that appear late (SATA and USB disks
	// probe asynchronously).
	res, err := kmod.Coldplug(ctx, dir, []string{"btrfs", "tun", "sd_mod", "usb_storage", "uas"}, b.moduleParams(), func(format string, args ...any) {})
	rec.Fact("modules", len(res.Modules))
	rec.Fact("modules_ms", res.Duration.Milliseconds())
	if err != nil {
		// A missing NIC or disk driver shows up in the stage that needs
		// it; here it is a warning.
		rec.Warn("%v", err)
	}
	rec.Summary("%d kernel modules loaded for the devices present in %s", len(res.Modules), res.Duration.Round(time.Millisecond))
	return nil
}

// moduleParams are the modules' parameters from the kernel command line,
// as modprobe would pass them. For homestaker.watchdog.kexec=keep the
// watchdog core is told not to stop the watchdog at the kexec (its
// reboot notifier would), unless the command line says otherwise.
func (b *boot) moduleParams() map[string]string {
	var words []string
	for _, p := range config.Tokenize(b.rep.Cmdline) {
		if p.HasValue {
			words = append(words, p.Key+"="+p.Value)
		} else {
			words = append(words, p.Key)
		}
	}
	params := kmod.CmdlineParams(words)
	if !b.cfg.WatchdogStop && !strings.Contains(" "+params["watchdog"], " stop_on_reboot=") {
		params["watchdog"] = strings.TrimSpace(params["watchdog"] + " stop_on_reboot=0")
	}
	return params
}

func (b *boot) network(ctx context.Context, rec *plan.Record) error {
	var err error
	b.netw, err = netup.Up(ctx, b.cfg, rec, netup.Options{SetClock: true})
	return err
}

// storage finds the volume by label and mounts it.
func (b *boot) storage(ctx context.Context, rec *plan.Record) error {
	cfg := b.cfg
	o := storage.Options{
		Label: cfg.Label, LabelSet: cfg.LabelSet, Mnt: cfg.Mnt, Subvols: cfg.Subvols, Degraded: cfg.Degraded,
		SysBlock: "/sys/class/block", DevDir: "/dev", Waiting: rec.Printf,
	}
	fs, fallback, waited, err := storage.Find(ctx, o, rec.Warn)
	rec.Fact("waited_for_devices_ms", waited.Milliseconds())
	if err != nil {
		return err
	}
	if fallback {
		rec.Warn("no filesystem labelled %q; using %q, the label the getting-started guide also uses (homestaker.label= silences this)", cfg.Label, fs.Label)
	}
	v, err := storage.Mount(fs, o, rec.Warn)
	if err != nil {
		return err
	}
	b.volume = v
	v.Fallback, v.WaitedMS = fallback, waited.Milliseconds()
	rec.Fact("volume", v)
	state := ""
	if v.Degraded {
		state = ", DEGRADED"
	}
	rec.Summary("%s (%d of %d device%s: %s%s) mounted at %s, waited %dms for devices", v.Label, len(v.Devices), v.NumDevices, plural(int(v.NumDevices)), strings.Join(v.Devices, " "), state, cfg.Mnt, v.WaitedMS)
	return nil
}

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

// peakRSS is this process's peak resident memory (VmHWM) in KiB.
func peakRSS() int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return -1
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			var kib int64
			fmt.Sscanf(strings.TrimSpace(rest), "%d", &kib)
			return kib
		}
	}
	return -1
}

// usedKiB is how much of the file system at path is in use, in KiB.
func usedKiB(path string) int64 {
	var st unix.Statfs_t
	if err := unix.Statfs(path, &st); err != nil {
		return -1
	}
	return int64(st.Blocks-st.Bfree) * st.Bsize >> 10
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

// wireguard brings the tunnel up from wg0.conf and waits for a handshake.
// It needs only a valid wg0.conf and the network: a bad JWT must not keep
// the operator from getting in over the VPN to fix it. Without a handshake
// the tunnel stays up, for when the peer comes back.
func (b *boot) wireguard(ctx context.Context, rec *plan.Record) error {
	if b.cfg.WG == config.WGOff {
		rec.Summary("not started (homestaker.wg=off)")
		return nil
	}
	err := b.startTunnel(ctx, rec)
	if err != nil && b.cfg.WG == config.WGOptional {
		rec.Warn("%v; going on without the tunnel (homestaker.wg=optional)", err)
		return nil
	}
	return err
}

func (b *boot) startTunnel(ctx context.Context, rec *plan.Record) error {
	conf, _, c := secrets.CheckWireGuard(filepath.Join(b.cfg.Mnt, b.cfg.Subvols[0]), b.cfg.Subvols[0], true)
	if conf == nil {
		return report.Fail("a valid wg0.conf in the secrets subvolume", c.Message, c.Action)
	}
	o := wg.Options{ResolvConf: "/etc/resolv.conf"}
	if b.netw != nil {
		o.Gateway, o.GatewayLink = b.netw.Gateway, b.netw.GatewayLink
	}
	t, err := wg.Up(ctx, conf, o, rec)
	if err != nil {
		return err
	}
	b.tunnel = t
	hctx, cancel := context.WithTimeout(ctx, b.cfg.Timeouts.WG)
	defer cancel()
	_, err = t.WaitHandshake(hctx)
	return err
}

// nextstageNeeds lists what the next stage's sources need.
func (b *boot) nextstageNeeds() []string {
	after := []string{"early"}
	for _, src := range b.cfg.Next {
		switch src.Kind {
		case config.SourceVolume:
			after = append(after, "storage")
		case config.SourceHTTP:
			after = append(after, "network", "wireguard")
		}
	}
	return after
}

func (b *boot) nextstage(ctx context.Context, rec *plan.Record) error {
	keys, errs := verify.LoadTrustedKeys(trustedKeysDir)
	for _, err := range errs {
		rec.Warn("trusted key: %v", err)
	}
	env := nextstage.Env{Mode: b.cfg.Verify, Keys: keys, TmpDir: "/run/homestaker", Tries: b.cfg.Tries}
	if b.volume != nil {
		env.Volume = storage.TopLevel
	}
	if b.netw != nil {
		client, err := fetch.Client(caBundle)
		if err != nil {
			rec.Warn("%v", err)
		}
		env.HTTP = client
		env.Progress = func(p fetch.Progress) { rec.Printf("%s", p) }
	}
	var refused []string
	next, err := nextstage.Locate(ctx, b.cfg.Next, env, func(src config.Source, err error) {
		refused = append(refused, fmt.Sprintf("%s refused (%v)", src, err))
		rec.Warn("%s refused: %v", src, err)
	})
	if err != nil {
		return err
	}
	b.next = next
	if len(refused) > 0 {
		rec.Warn("%s, booting %s", strings.Join(refused, ", "), next.Source)
		rec.Fact("refused", refused)
	}
	if w := next.Verified.Warning; w != "" {
		rec.Warn("%s", w)
	}
	rec.Fact("source", next.Source.String())
	rec.Fact("tree", next.Tree)
	rec.Fact("verified", next.Verified)
	how := next.Verified.Mode
	if next.Verified.Signer != "" {
		how += " by key " + next.Verified.Signer
	}
	counted := ""
	if next.Count != nil {
		counted = fmt.Sprintf(", boot %d of %d without a success mark", next.Count.Count+1, b.cfg.Tries)
		rec.Fact("boot_count", next.Count.Count+1)
	}
	rec.Summary("%s: %s from %s, verified: %s%s", next.Source, next.Tree.Kernel, next.Tree.From, how, counted)
	return nil
}

// handover loads the next stage into the kernel (or unpacks it for
// switch_root), saves the boot report on the volume, closes the tunnel,
// unmounts what the next stage does not keep and jumps. It returns only on
// failure.
func (b *boot) handover(ctx context.Context, rec *plan.Record) error {
	// The report's place on the volume goes on the next command line, so
	// it is claimed before the load and written in full after it.
	var extra []string
	reportPath := ""
	if b.volume != nil {
		err := b.volume.WritableTopLevel(func(top string) error {
			name, err := b.rep.SaveNumbered(filepath.Join(top, reportsDir), report.Keep)
			reportPath = filepath.Join("/", reportsDir, name)
			return err
		})
		if err != nil {
			rec.Warn("boot report on the volume: %v", err)
			reportPath = ""
		} else {
			extra = append(extra, "homestaker.report="+reportPath)
		}
	}
	if b.next.Source.Kind == config.SourceVolume {
		// For HomestakerOS's success mark (see init/bootcount).
		extra = append(extra, "homestaker.tree="+b.next.Source.Path)
	}
	switchRoot := b.cfg.Handover == config.HandoverSwitchRoot
	if switchRoot && b.next.Initrd == nil {
		return report.Fail("an initrd to switch_root into", b.next.Tree.From+" names no initrd",
			"switch_root needs the next stage's initrd; use homestaker.handover=kexec")
	}
	what := fmt.Sprintf("kexec into %s/%s", b.next.Dir, b.next.Tree.Kernel)
	if switchRoot {
		what = fmt.Sprintf("switch_root into %s/%s", b.next.Dir, b.next.Tree.Initrd)
		rec.Fact("cmdline", strings.Join(append([]string{b.next.Tree.Cmdline}, extra...), " "))
	} else {
		k, err := handover.Load(b.next, extra)
		if err != nil {
			return err
		}
		if k.Refused != nil {
			rec.Warn("kexec_file_load refused the kernel (%v); loaded it with kexec_load", k.Refused)
		}
		rec.Fact("cmdline", k.Cmdline)
		rec.Fact("syscall", k.Syscall)
		// What loading cost this process: the kernel holds its own copy,
		// the init should hold next to nothing of it.
		rss, tmpfs := peakRSS(), usedKiB("/run")
		rec.Fact("init_peak_rss_kib", rss)
		rec.Fact("run_tmpfs_used_kib", tmpfs)
		rec.Printf("loaded with %s; the init's peak memory %d MiB, /run holds %d MiB", k.Syscall, rss>>10, tmpfs>>10)
		// The kernel has its copy; nothing on the volume is needed now.
		b.next.Close()
	}
	if b.rescue != nil {
		b.rescue.Close()
	}
	if b.tunnel != nil {
		if err := b.tunnel.Close(); err != nil {
			rec.Warn("closing the tunnel: %v", err)
		}
	}
	b.handOverWatchdog(rec)
	rec.Fact("report", reportPath)
	rec.Summary("%s", what)
	rec.Announce()
	b.rep.Finish(report.OK, nil)
	if reportPath != "" || b.next.Count != nil {
		// The boot count and the report in one read-write remount: each
		// remount ends in a Btrfs commit.
		err := b.volume.WritableTopLevel(func(top string) error {
			if b.next.Count != nil {
				b.countBoot(rec, top)
			}
			if reportPath == "" {
				return nil
			}
			return b.rep.Save(filepath.Join(top, reportPath))
		})
		if err != nil {
			rec.Warn("writing the boot report and count on the volume: %v", err)
		}
	}
	if err := b.rep.Save(report.Path); err != nil {
		rec.Warn("%v", err)
	}
	unix.Sync()
	if switchRoot {
		return b.switchRoot(extra)
	}
	if b.volume != nil {
		// Never kexec with the volume mounted read-write: the next kernel
		// would find it dirty.
		if err := b.volume.Unmount(); err != nil {
			return report.Fail("the volume unmounted cleanly before the handover", err.Error(),
				"a process in the rescue shell may be using it (cd / and exit the shell), then reboot")
		}
	}
	return handover.Jump()
}

// countBoot counts this boot of the next stage's tree on the volume
// (its top level at top, writable), durably, before the jump: a boot that
// never comes up is counted too. The nextstage stage recorded the count.
func (b *boot) countBoot(rec *plan.Record, top string) {
	n, err := bootcount.Increment(filepath.Join(top, b.next.Source.Path))
	if err != nil {
		rec.Warn("counting this boot of %s: %v; without the count a bad tree is not given up for the next source", b.next.Source.Path, err)
		return
	}
	rec.Printf("boot %d of %d of %s; HomestakerOS marks it good with %s/%s", n, b.cfg.Tries, b.next.Source.Path, b.next.Source.Path, bootcount.SuccessFile)
}

// switchRoot hands the running kernel to a next stage built for it: the
// subvolume mounts move into the new root at their paths, the top level
// (only the init needs it) is unmounted first.
func (b *boot) switchRoot(extra []string) error {
	moves := []string{"/dev", "/proc", "/sys", "/run"}
	if b.volume != nil {
		if err := b.volume.UnmountTopLevel(); err != nil {
			return report.Fail("the volume's top level unmounted before switch_root", err.Error(), "reboot; if it repeats, use homestaker.handover=kexec")
		}
		for _, m := range b.volume.Mounts {
			moves = append(moves, m.Target)
		}
	}
	rep, err := b.rep.JSON()
	if err != nil {
		return err
	}
	cmdline := strings.Join(append([]string{b.next.Tree.Cmdline}, extra...), " ")
	return handover.SwitchRoot(b.next.Initrd, cmdline, moves, map[string][]byte{"run/homestaker/report.json": rep})
}
