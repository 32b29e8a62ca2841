package kmod

import (
	"context"
	"fmt"
	"os"
	"strings"

	"golang.org/x/sys/unix"
)

// Load loads every module listed in dir's modules.dep (dir is
// /lib/modules/VERSION), each after its hard dependencies and its softdep
// pre: modules and before its post: ones, concurrently where the graph
// allows, virtio_rng before all. A module that fails does not stop the
// others; one whose hard dependency failed is skipped, but softdeps only
// order: btrfs still loads when crc32c_intel fails with ENODEV on a CPU
// without SSE4.2. EEXIST counts as loaded. Load returns when all are done
// or ctx ends, with an error naming every module not loaded; the Result
// always has every module. log may be nil.
func Load(ctx context.Context, dir string, log func(format string, args ...any)) (Result, error) {
	ix, err := ReadIndex(dir)
	if err != nil {
		return Result{}, fmt.Errorf("kernel modules: %v", err)
	}
	return load(ctx, ix, finitModule, log)
}

// Coldplug loads the modules for the devices present and those named in
// always, as udev and modprobe would at boot: every modalias under
// /sys/devices is matched against modules.alias (fnmatch globs), and the
// modules found, with the always ones (names or aliases: "btrfs", "tun",
// needed by the boot but bound to no device), load with their hard
// dependencies and softdeps under the same rules as Load, virtio_rng first
// in its round. Loading a bus driver (virtio_pci, xhci_pci) adds devices,
// so Coldplug scans again after each round until a scan finds nothing new
// to load or ctx ends. A module is tried once: one that failed or was
// skipped in a round makes the later modules that need it skipped.
//
// The Result has one entry per module tried, round by round, and one per
// unknown always name, which is an error but does not stop the rest; so is
// an unreadable /sys/devices, which leaves only the always modules.
// Devices that a driver finds asynchronously (disks behind ahci or
// usb_storage, USB devices behind a hub) may appear after the last scan:
// list the modules they need (sd_mod) in always. params holds each
// module's parameters by name, as modprobe takes them from the kernel
// command line (see CmdlineParams); it may be nil. log may be nil.
func Coldplug(ctx context.Context, dir string, always []string, params map[string]string, log func(format string, args ...any)) (Result, error) {
	ix, err := ReadIndex(dir)
	if err != nil {
		return Result{}, fmt.Errorf("kernel modules: %v", err)
	}
	scan := func() ([]string, error) {
		as, err := modaliases("/sys/devices")
		if err != nil {
			return nil, fmt.Errorf("%v (is sysfs mounted on /sys?)", err)
		}
		return as, nil
	}
	return coldplug(ctx, ix, always, scan, func(name, path string) error { return finit(path, params[strings.ReplaceAll(name, "-", "_")]) }, log)
}

// finitModule hands the file to the kernel, which decompresses .ko.xz,
// .ko.zst and .ko.gz itself: much faster than decompressing in Go under
// TCG.
func finitModule(_, path string) error { return finit(path, "") }

// finit loads the module file at path with the parameter string params
// ("a=1 b=2").
func finit(path, params string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	flags := 0
	if compressed(path) {
		flags = unix.MODULE_INIT_COMPRESSED_FILE
	}
	if err := unix.FinitModule(int(f.Fd()), params, flags); err != nil {
		return fmt.Errorf("finit_module: %w", err)
	}
	return nil
}
