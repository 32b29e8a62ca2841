package main

import (
	"context"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/homestaker/homestaker-boot/init/atomicfile"
	"github.com/homestaker/homestaker-boot/init/config"
	"github.com/homestaker/homestaker-boot/init/console"
	"github.com/homestaker/homestaker-boot/init/handover"
	"github.com/homestaker/homestaker-boot/init/plan"
	"github.com/homestaker/homestaker-boot/init/report"
	"golang.org/x/sys/unix"
)

// handover loads the next stage into the kernel (or unpacks it for
// switch_root), announces itself, sends the log collector what is queued,
// closes the tunnel, saves the boot report on the volume,
// unmounts what the next stage does not keep and jumps. It returns only on
// failure.
func (b *boot) handover(ctx context.Context, rec *plan.Record) error {
	// The report's place on the volume goes on the next command line, so
	// it is claimed before the load and written in full after it.
	var extra []string
	reportPath := ""
	if b.volume != nil {
		err := b.volume.WritableTopLevel(func(top string) error {
			d, err := atomicfile.OpenDir(top, reportsDir, true, 0o755)
			if err != nil {
				return err
			}
			defer d.Close()
			name, err := b.rep.SaveNumbered(d, report.Keep)
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
	cmdline := strings.TrimSpace(strings.Join(append([]string{b.next.Tree.Cmdline}, extra...), " "))
	rec.Fact("cmdline", cmdline)
	what := fmt.Sprintf("kexec into %s/%s", b.next.Dir, b.next.Tree.Kernel)
	if switchRoot {
		what = fmt.Sprintf("switch_root into %s/%s", b.next.Dir, b.next.Tree.Initrd)
	} else {
		k, err := handover.Load(b.next.Dir+"/"+b.next.Tree.Kernel, b.next.Kernel, b.next.Initrd, cmdline)
		if err != nil {
			return err
		}
		if k.Refused != nil {
			rec.Warn("kexec_file_load refused the kernel (%v); loaded it with kexec_load", k.Refused)
		}
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
	// What is closed is forgotten, so that a failure after this point
	// does not announce a rescue server or a tunnel that is gone.
	if b.rescue != nil {
		b.rescue.Close()
		b.rescue = nil
	}
	// The next system runs its own DHCP client.
	b.netw.StopRenewing()
	b.handOverWatchdog(rec)
	rec.Fact("report", reportPath)
	rec.Summary("%s", what)
	rec.Announce()
	b.rep.Finish(report.OK, nil)
	// The handover's line is the one a log collector most needs: it goes
	// out while the tunnel, which may be its only route, is still up.
	b.flushLog("before the handover")
	if b.tunnel != nil {
		if err := b.tunnel.Close(); err != nil {
			// After the announcement: on the console, not in the report.
			b.con.Status(console.Warn, "handover", "closing the tunnel: %v", err)
		}
		b.tunnel = nil
	}
	if reportPath != "" {
		err := b.volume.WritableTopLevel(func(top string) error {
			d, err := atomicfile.OpenDir(top, path.Dir(reportPath), false, 0)
			if err != nil {
				return err
			}
			defer d.Close()
			return b.rep.SaveIn(d, path.Base(reportPath))
		})
		if err != nil {
			rec.Warn("writing the boot report on the volume: %v", err)
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
	cmdline := strings.TrimSpace(strings.Join(append([]string{b.next.Tree.Cmdline}, extra...), " "))
	return handover.SwitchRoot(b.next.Initrd, cmdline, moves, map[string][]byte{"run/homestaker/report.json": rep})
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
