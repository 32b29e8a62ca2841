package main

import (
	"path/filepath"
	"slices"
	"testing"

	"github.com/homestaker/homestaker-boot/init/kmod"
)

// Every name of the driver list is a module of the test kernel (a typo
// would fail the build, but here it fails with the list), and the
// builder's softdep carries mmc_block with the SD controller's mmc_core.
func TestDefaultModulesInTestKernel(t *testing.T) {
	dirs, _ := filepath.Glob("../.cache/kernel/current/lib/modules/*")
	if len(dirs) != 1 {
		t.Fatal("no test kernel modules in .cache/kernel/current: run `make deps`")
	}
	ix, err := kmod.ReadIndex(dirs[0])
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range defaultModules {
		if !ix.Has(m) {
			t.Errorf("%s is not a module of %s", m, dirs[0])
		}
	}
	for _, sd := range builderSoftdeps {
		ix.AddSoftdep(sd)
	}
	mods, err := ix.Closure([]string{"sdhci_pci"})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, m := range mods {
		names = append(names, m.Name)
	}
	if !slices.Contains(names, "mmc_block") || slices.Index(names, "mmc_block") < slices.Index(names, "mmc_core") {
		t.Errorf("closure of sdhci_pci = %q, want mmc_block after mmc_core", names)
	}
}
