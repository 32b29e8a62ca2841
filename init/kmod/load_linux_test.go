package kmod

import (
	"context"
	"path/filepath"
	"testing"
)

// Loading real modules needs root and the matching kernel: the VM tests
// do that. Here only the way in is checked.
func TestLoadNoIndex(t *testing.T) {
	dir := t.TempDir()
	res, err := Load(context.Background(), dir, nil)
	checkErr(t, err, "kernel modules: open "+filepath.Join(dir, "modules.dep")+": no such file or directory")
	if len(res.Modules) != 0 {
		t.Errorf("Result %+v, want empty", res)
	}
}

func TestColdplugNoIndex(t *testing.T) {
	dir := t.TempDir()
	res, err := Coldplug(context.Background(), dir, []string{"btrfs"}, nil, nil)
	checkErr(t, err, "kernel modules: open "+filepath.Join(dir, "modules.dep")+": no such file or directory")
	if len(res.Modules) != 0 {
		t.Errorf("Result %+v, want empty", res)
	}
}
