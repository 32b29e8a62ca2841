package main

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"

	"github.com/homestaker/homestaker-boot/init/kmod"
)

// hostPick is what -modules host found on the machine the builder runs
// on, as dracut's host-only mode does: the drivers of its devices and
// the modules its kernel has loaded, those of them that the target
// kernel has, plus what the init loads on every boot.
type hostPick struct {
	modaliases int      // distinct modaliases under /sys/devices
	devices    []string // modules whose modules.alias matches a device
	loaded     []string // modules in /proc/modules that the target kernel has
	absent     []string // modules in /proc/modules that it lacks (another kernel version, out-of-tree)
	boot       []string // kmod.BootModules and the VLAN module
	noProc     bool     // there is no /proc/modules
}

// modules returns every module picked, sorted, each once.
func (p hostPick) modules() []string {
	all := slices.Concat(p.devices, p.loaded, p.boot)
	slices.Sort(all)
	return slices.Compact(all)
}

// hostModules picks the modules of the target kernel's index ix for the
// machine whose device tree is sysDevices (/sys/devices) and whose loaded
// modules procModules lists (/proc/modules).
func hostModules(ix *kmod.Index, sysDevices, procModules string) (hostPick, error) {
	var p hostPick
	devs, err := kmod.Modaliases(sysDevices)
	if err != nil {
		return p, fmt.Errorf("reading the device modaliases: %v (is sysfs mounted on /sys?)", err)
	}
	p.modaliases = len(devs)
	p.devices = ix.MatchModaliases(devs)
	p.boot = append(slices.Clone(kmod.BootModules), kmod.VLANModule)
	f, err := os.Open(procModules)
	if os.IsNotExist(err) {
		// A kernel without loadable modules, or a container that hides
		// them: the devices alone say what is needed.
		p.noProc = true
		return p, nil
	}
	if err != nil {
		return p, fmt.Errorf("reading the loaded modules: %v", err)
	}
	defer f.Close()
	names, err := parseProcModules(f)
	if err != nil {
		return p, fmt.Errorf("%s: %v", procModules, err)
	}
	for _, n := range names {
		if ix.Has(n) {
			p.loaded = append(p.loaded, n)
		} else {
			p.absent = append(p.absent, n)
		}
	}
	return p, nil
}

// parseProcModules returns the module names of /proc/modules (the first
// field of each line: "name size refcount deps state address"), sorted.
func parseProcModules(r io.Reader) ([]string, error) {
	var out []string
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		if f := strings.Fields(sc.Text()); len(f) > 0 {
			out = append(out, strings.ReplaceAll(f[0], "-", "_"))
		}
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	slices.Sort(out)
	return slices.Compact(out), nil
}

// print says what -modules host picked and why.
func (p hostPick) print(w io.Writer, sysDevices, procModules string) {
	fmt.Fprintf(w, "  -modules host: %d modules for %d device modaliases under %s: %s\n", len(p.devices), p.modaliases, sysDevices, strings.Join(p.devices, " "))
	if p.noProc {
		fmt.Fprintf(w, "  -modules host: no %s (a kernel without loadable modules, or a container that hides them): the devices alone decide\n", procModules)
	} else {
		fmt.Fprintf(w, "  -modules host: %d modules loaded now (%s): %s\n", len(p.loaded), procModules, strings.Join(p.loaded, " "))
	}
	if len(p.absent) > 0 {
		fmt.Fprintf(w, "  -modules host: %d loaded modules not in the target kernel, left out: %s\n", len(p.absent), strings.Join(p.absent, " "))
	}
	fmt.Fprintf(w, "  -modules host: and what the init loads on every boot: %s\n", strings.Join(p.boot, " "))
}
