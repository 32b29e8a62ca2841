package kmod

import (
	"context"
	"errors"
	"reflect"
	"strings"
	"syscall"
	"testing"
	"testing/fstest"
	"time"
)

// FuzzIndex feeds the modules.dep and modules.softdep parsers, checks
// that what they parse writes back to the same thing, and that any index
// they accept orders and loads without hanging or breaking dependencies.
func FuzzIndex(f *testing.F) {
	f.Add(testDep, testSoftdep)
	f.Add("kernel/a.ko:\n", "softdep a pre: b post: c\n")
	f.Add("a.ko: b.ko\nb.ko: a.ko\nc.ko: a.ko\n", "softdep c pre: a\n")
	f.Add("a.ko.xz: f.ko.zst\nf.ko.zst:\nvirtio_rng.ko: a.ko.xz\n", "softdep f post: a virtio-rng\nsoftdep a gcm pre: f\n")
	f.Fuzz(func(t *testing.T, dep, softdep string) {
		mods, depErr := ParseDep(strings.NewReader(dep))
		if depErr == nil {
			var b strings.Builder
			if err := formatDep(&b, mods); err != nil {
				t.Fatal(err)
			}
			again, err := ParseDep(strings.NewReader(b.String()))
			if err != nil || !reflect.DeepEqual(again, mods) {
				t.Fatalf("modules.dep %q parsed to %#v, written as %q, parsed back to %#v, %v", dep, mods, b.String(), again, err)
			}
		}
		sds, softErr := ParseSoftdep(strings.NewReader(softdep))
		if softErr == nil {
			var b strings.Builder
			if err := formatSoftdep(&b, sds); err != nil {
				t.Fatal(err)
			}
			again, err := ParseSoftdep(strings.NewReader(b.String()))
			if err != nil || !reflect.DeepEqual(again, sds) {
				t.Fatalf("modules.softdep %q parsed to %#v, written as %q, parsed back to %#v, %v", softdep, sds, b.String(), again, err)
			}
		}
		ParseAlias(strings.NewReader(softdep))
		ParseBuiltin(strings.NewReader(dep))
		if depErr != nil || softErr != nil {
			return
		}

		ix, err := readIndex(fstest.MapFS{
			"modules.dep":     {Data: []byte(dep)},
			"modules.softdep": {Data: []byte(softdep)},
		}, "/lib/modules/fuzz")
		if err != nil {
			t.Fatalf("readIndex after both parsed: %v", err)
		}
		var all []string
		for _, m := range ix.mods {
			all = append(all, m.Name)
		}
		if got, err := ix.Closure(all); err == nil {
			seen := make(map[string]bool)
			for _, m := range got {
				for _, d := range m.Deps {
					if !seen[d] {
						t.Fatalf("Closure lists %s before its dependency %s", m.Name, d)
					}
				}
				seen[m.Name] = true
			}
		}

		// Modules whose name starts with f fail; the fake kernel checks the
		// order, and nothing may be loaded after a failed hard dependency.
		k := newFakeKernel(t, ix)
		for _, m := range ix.mods {
			if strings.HasPrefix(m.Name, "f") {
				k.fail[m.Name] = syscall.ENOEXEC
			}
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		res, _ := load(ctx, ix, k.load, nil)
		if len(res.Modules) != len(ix.mods) {
			t.Fatalf("result has %d modules, want %d", len(res.Modules), len(ix.mods))
		}
		byName := results(res)
		for _, mr := range res.Modules {
			if errors.Is(mr.Err, context.DeadlineExceeded) {
				t.Fatalf("load hung: %s: %v", mr.Name, mr.Err)
			}
			if mr.Err != nil {
				continue
			}
			m, _ := ix.module(mr.Name)
			for _, d := range m.Deps {
				if byName[d].Err != nil {
					t.Fatalf("%s loaded although its dependency %s: %v", mr.Name, d, byName[d].Err)
				}
			}
		}
	})
}
