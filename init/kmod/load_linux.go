package kmod

import (
	"context"
	"fmt"
	"os"

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

// finitModule hands the file to the kernel, which decompresses .ko.xz,
// .ko.zst and .ko.gz itself: much faster than decompressing in Go under
// TCG.
func finitModule(_, path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	flags := 0
	if compressed(path) {
		flags = unix.MODULE_INIT_COMPRESSED_FILE
	}
	if err := unix.FinitModule(int(f.Fd()), "", flags); err != nil {
		return fmt.Errorf("finit_module: %w", err)
	}
	return nil
}
