package kmod

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// fakeKernel stands in for finit_module. It checks that every module
// starts only after the modules it must follow have finished.
type fakeKernel struct {
	t     *testing.T
	dir   string
	paths map[string]string          // name -> expected path
	after map[string]map[string]bool // name -> modules that must have finished first
	fail  map[string]error           // name -> what finit_module returns
	block map[string]chan struct{}   // name -> held until closed
	// meet holds each of these modules until all of them have started:
	// modules free to load together must be loaded together.
	meet []string
	met  chan struct{} // closed once every module of meet has started

	mu          sync.Mutex
	started     []string        // in start order
	finished    map[string]bool // whatever the outcome
	inflight    int
	maxInflight int
}

func newFakeKernel(t *testing.T, ix *Index) *fakeKernel {
	k := &fakeKernel{
		t:        t,
		dir:      ix.dir,
		paths:    make(map[string]string),
		after:    make(map[string]map[string]bool),
		fail:     make(map[string]error),
		block:    make(map[string]chan struct{}),
		met:      make(chan struct{}),
		finished: make(map[string]bool),
	}
	for _, m := range ix.mods {
		k.paths[m.Name] = m.Path
		if !filepath.IsAbs(m.Path) {
			k.paths[m.Name] = filepath.Join(ix.dir, m.Path)
		}
		for _, d := range m.Deps {
			k.mustFollow(m.Name, d)
		}
	}
	return k
}

// mustFollow records that b may start only after a has finished.
func (k *fakeKernel) mustFollow(b, a string) {
	if k.after[b] == nil {
		k.after[b] = make(map[string]bool)
	}
	k.after[b][a] = true
}

func (k *fakeKernel) load(name, path string) error {
	k.mu.Lock()
	if path != k.paths[name] {
		k.t.Errorf("load %s: path %q, want %q", name, path, k.paths[name])
	}
	if slices.Contains(k.started, name) {
		k.t.Errorf("load %s: loaded twice", name)
	}
	for a := range k.after[name] {
		if !k.finished[a] {
			k.t.Errorf("load %s: started before %s finished", name, a)
		}
	}
	k.started = append(k.started, name)
	k.inflight++
	k.maxInflight = max(k.maxInflight, k.inflight)
	meeting := slices.Contains(k.meet, name)
	if meeting && !slices.ContainsFunc(k.meet, func(m string) bool { return !slices.Contains(k.started, m) }) {
		select {
		case <-k.met: // a module loaded twice, reported above
		default:
			close(k.met)
		}
	}
	k.mu.Unlock()

	if ch := k.block[name]; ch != nil {
		<-ch
	}
	if meeting {
		select {
		case <-k.met:
		case <-time.After(5 * time.Second):
			k.t.Errorf("load %s: %q were not loading at the same time", name, k.meet)
		}
	}
	// finit_module takes time: wait for the clock to move, so that a
	// module tried never reports a zero duration.
	for start := time.Now(); !time.Now().After(start); {
	}

	k.mu.Lock()
	defer k.mu.Unlock()
	k.inflight--
	k.finished[name] = true
	return k.fail[name]
}

// softOrder is what testSoftdep and virtio_rng ask of the load order.
func (k *fakeKernel) softOrder() {
	for _, pre := range []string{"blake2b_generic", "sha256_ssse3", "xxhash_generic", "crc32c_intel", "crc32c_generic"} {
		k.mustFollow("btrfs", pre)
	}
	k.mustFollow("libcrc32c", "crc32c_intel")
	k.mustFollow("libcrc32c", "crc32c_generic")
	k.mustFollow("ipmi_devintf", "ipmi_msghandler")
	for name := range k.paths {
		switch name {
		case "virtio_rng", "virtio", "virtio_ring":
		default:
			k.mustFollow(name, "virtio_rng")
		}
	}
}

func results(r Result) map[string]ModuleResult {
	m := make(map[string]ModuleResult)
	for _, mr := range r.Modules {
		m[mr.Name] = mr
	}
	return m
}

func TestLoadOrder(t *testing.T) {
	ix := testIndex(t)
	k := newFakeKernel(t, ix)
	k.softOrder()
	k.meet = []string{"xor", "raid6_pq"} // both wait for virtio_rng only
	var logged []string
	res, err := load(context.Background(), ix, k.load, func(f string, a ...any) {
		logged = append(logged, fmt.Sprintf(f, a...))
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(k.started) != len(ix.mods) || len(res.Modules) != len(ix.mods) {
		t.Fatalf("loaded %d, result has %d, want %d modules", len(k.started), len(res.Modules), len(ix.mods))
	}
	if k.started[0] != "virtio_ring" || k.started[1] != "virtio" || k.started[2] != "virtio_rng" {
		t.Errorf("load order starts %q, want virtio_ring, virtio, virtio_rng", k.started[:3])
	}
	if k.maxInflight < 2 {
		t.Errorf("at most %d modules loading at once, want concurrency", k.maxInflight)
	}
	for _, mr := range res.Modules {
		if mr.Err != nil || mr.Skipped || mr.AlreadyLoaded || mr.Duration <= 0 {
			t.Errorf("%+v, want loaded with a duration", mr)
		}
	}
	// The result lists prerequisites first.
	pos := make(map[string]int)
	for i, mr := range res.Modules {
		pos[mr.Name] = i
	}
	for b, as := range k.after {
		for a := range as {
			if pos[a] > pos[b] {
				t.Errorf("result lists %s before its prerequisite %s", b, a)
			}
		}
	}
	if res.Duration <= 0 {
		t.Errorf("Duration %v", res.Duration)
	}
	want := fmt.Sprintf("kernel modules: %d of %d loaded (0 already), 0 failed, 0 skipped, in ", len(ix.mods), len(ix.mods))
	if len(logged) != 1 || !strings.HasPrefix(logged[0], want) {
		t.Errorf("logged %q, want one line %q...", logged, want)
	}
}

func TestLoadFailures(t *testing.T) {
	for _, tc := range []struct {
		name    string
		fail    map[string]error
		want    map[string]string // name -> error text; missing: loaded
		wantErr string
	}{
		{
			name: "hard dependency failed, softdep failed",
			fail: map[string]error{
				"libcrc32c":    fmt.Errorf("finit_module: %w", syscall.ENOEXEC),
				"crc32c_intel": fmt.Errorf("finit_module: %w", syscall.ENODEV),
				"usb_common":   fmt.Errorf("open kernel/drivers/usb/core/usb-common.ko.xz: %w", syscall.ENOENT),
			},
			want: map[string]string{
				"libcrc32c":    "finit_module: exec format error",
				"crc32c_intel": "finit_module: no such device",
				"btrfs":        "skipped: needs libcrc32c, which failed",
				"usb_common":   "open kernel/drivers/usb/core/usb-common.ko.xz: no such file or directory",
				"usbcore":      "skipped: needs usb_common, which failed",
				"usb_storage":  "skipped: needs usbcore, which was skipped",
			},
			wantErr: "kernel modules: 6 of 22 not loaded: crc32c_intel: finit_module: no such device; " +
				"libcrc32c: finit_module: exec format error; " +
				"usb_common: open kernel/drivers/usb/core/usb-common.ko.xz: no such file or directory; " +
				"skipped: usbcore, usb_storage, btrfs",
		},
		{
			name: "virtio_rng's dependency failed, the rest goes on",
			fail: map[string]error{"virtio_ring": fmt.Errorf("finit_module: %w", syscall.EINVAL)},
			want: map[string]string{
				"virtio_ring": "finit_module: invalid argument",
				"virtio":      "skipped: needs virtio_ring, which failed",
				"virtio_rng":  "skipped: needs virtio, which was skipped",
				"virtio_net":  "skipped: needs virtio, which was skipped",
			},
			wantErr: "kernel modules: 4 of 22 not loaded: virtio_ring: finit_module: invalid argument; skipped: virtio, virtio_rng, virtio_net",
		},
		{
			name: "EEXIST is loaded",
			fail: map[string]error{"xor": syscall.EEXIST, "virtio_rng": fmt.Errorf("finit_module: %w", syscall.EEXIST)},
			want: map[string]string{"xor": "already", "virtio_rng": "already"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ix := testIndex(t)
			k := newFakeKernel(t, ix)
			k.softOrder()
			if k.fail = tc.fail; k.fail["virtio_ring"] != nil {
				// virtio_rng is skipped, so it never finishes loading.
				for name := range k.after {
					delete(k.after[name], "virtio_rng")
				}
			}
			res, err := load(context.Background(), ix, k.load, nil)
			checkErr(t, err, tc.wantErr)
			if err != nil && err.Error() != tc.wantErr {
				t.Errorf("error %q\nwant  %q", err, tc.wantErr)
			}
			if len(res.Modules) != len(ix.mods) {
				t.Fatalf("result has %d modules, want %d", len(res.Modules), len(ix.mods))
			}
			for _, mr := range res.Modules {
				var got string
				switch {
				case mr.Skipped:
					got = fmt.Sprintf("skipped: %v", mr.Err)
				case mr.Err != nil:
					got = mr.Err.Error()
				case mr.AlreadyLoaded:
					got = "already"
				}
				if got != tc.want[mr.Name] {
					t.Errorf("%s: %q, want %q", mr.Name, got, tc.want[mr.Name])
				}
				if mr.Skipped && mr.Duration != 0 {
					t.Errorf("%s skipped but took %v", mr.Name, mr.Duration)
				}
				if !mr.Skipped && mr.Duration == 0 {
					t.Errorf("%s tried but took no time", mr.Name)
				}
			}
		})
	}
}

// A bug in loading one module (here finit_module's wrapper panics) fails
// that module: the modules that need it are skipped at once rather than
// waiting for ever, the others load, and the log has the stack.
func TestLoadPanicFailsTheModule(t *testing.T) {
	ix := testIndex(t)
	k := newFakeKernel(t, ix)
	k.softOrder()
	loadFn := func(name, path string) error {
		if name == "usb_common" {
			var m map[string]bool
			m[name] = true // a runtime error, as a real bug would be
		}
		return k.load(name, path)
	}
	var mu sync.Mutex
	var log []string
	logf := func(format string, args ...any) {
		mu.Lock()
		defer mu.Unlock()
		log = append(log, fmt.Sprintf(format, args...))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	res, err := load(ctx, ix, loadFn, logf)
	checkErr(t, err, "kernel modules: 3 of 22 not loaded: usb_common: internal error: assignment to entry in nil map; skipped: usbcore, usb_storage")
	got := results(res)
	if r := got["usb_common"]; r.Skipped || r.Err == nil || !strings.Contains(r.Err.Error(), "internal error") {
		t.Errorf("usb_common: %+v, want failed with an internal error", r)
	}
	for _, name := range []string{"usbcore", "usb_storage"} {
		if r := got[name]; !r.Skipped || strings.Contains(r.Err.Error(), "deadline") {
			t.Errorf("%s: %+v, want skipped for its failed dependency", name, r)
		}
	}
	mu.Lock()
	text := strings.Join(log, "\n")
	mu.Unlock()
	for _, want := range []string{"internal error in loading kernel module usb_common: assignment to entry in nil map", "kmod.TestLoadPanicFailsTheModule.func1("} {
		if !strings.Contains(text, want) {
			t.Errorf("log lacks %q:\n%s", want, text)
		}
	}
}

func TestLoadDeadline(t *testing.T) {
	for _, tc := range []struct {
		name    string
		hang    string
		loaded  int
		wantErr string
	}{
		// virtio_rng waits for virtio_ring, and everything else for virtio_rng.
		{name: "before virtio_rng", hang: "virtio_ring", loaded: 0,
			wantErr: "kernel modules: 22 of 22 not loaded: virtio_ring: still loading when the deadline passed: context deadline exceeded; skipped: "},
		{name: "btrfs", hang: "btrfs", loaded: 21,
			wantErr: "kernel modules: 1 of 22 not loaded: btrfs: still loading when the deadline passed: context deadline exceeded"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ix := testIndex(t)
			k := newFakeKernel(t, ix)
			release := make(chan struct{})
			k.block[tc.hang] = release
			t.Cleanup(func() { close(release) })

			ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
			defer cancel()
			start := time.Now()
			res, err := load(ctx, ix, k.load, nil)
			if d := time.Since(start); d > 5*time.Second {
				t.Errorf("load took %v after a 200ms deadline", d)
			}
			checkErr(t, err, tc.wantErr)
			loaded := 0
			for _, mr := range res.Modules {
				switch {
				case mr.Err == nil:
					loaded++
				case mr.Name == tc.hang:
					if mr.Skipped || !errors.Is(mr.Err, context.DeadlineExceeded) {
						t.Errorf("%s: %+v, want still loading", mr.Name, mr)
					}
				default:
					if !mr.Skipped || mr.Err.Error() != "not started: context deadline exceeded" {
						t.Errorf("%s: %+v, want not started", mr.Name, mr)
					}
				}
			}
			if loaded != tc.loaded || len(res.Modules) != len(ix.mods) {
				t.Errorf("%d of %d loaded, want %d of %d", loaded, len(res.Modules), tc.loaded, len(ix.mods))
			}
		})
	}
}

func TestLoadCanceled(t *testing.T) {
	ix := testIndex(t)
	k := newFakeKernel(t, ix)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	res, err := load(ctx, ix, k.load, nil)
	checkErr(t, err, "kernel modules: 22 of 22 not loaded: skipped: ")
	if len(k.started) != 0 {
		t.Errorf("started %q after cancel", k.started)
	}
	for _, mr := range res.Modules {
		if !mr.Skipped || !errors.Is(mr.Err, context.Canceled) {
			t.Errorf("%+v, want not started", mr)
		}
	}
}

func TestLoadBrokenIndex(t *testing.T) {
	ix, err := ReadIndex(writeFiles(t, map[string]string{"modules.dep": `kernel/a.ko: kernel/b.ko
kernel/b.ko: kernel/a.ko
kernel/c.ko: kernel/a.ko
kernel/d.ko: kernel/gone.ko
kernel/e.ko:
`}))
	if err != nil {
		t.Fatal(err)
	}
	k := newFakeKernel(t, ix)
	res, err := load(context.Background(), ix, k.load, nil)
	checkErr(t, err, "kernel modules: 4 of 5 not loaded: skipped: d, a, b, c")
	want := map[string]string{
		"a": "in or behind a dependency cycle in modules.dep",
		"b": "in or behind a dependency cycle in modules.dep",
		"c": "in or behind a dependency cycle in modules.dep",
		"d": "needs gone, which modules.dep does not list",
	}
	for name, mr := range results(res) {
		if got := fmt.Sprint(mr.Err); mr.Err != nil && got != want[name] || mr.Err == nil && want[name] != "" {
			t.Errorf("%s: %v, want %q", name, mr.Err, want[name])
		}
	}
	if !slices.Equal(k.started, []string{"e"}) {
		t.Errorf("started %q, want [e]", k.started)
	}
}
