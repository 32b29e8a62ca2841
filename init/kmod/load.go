package kmod

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/homestaker/homestaker-boot/init/panics"
)

// firstModule is loaded before any other: under QEMU TCG getrandom blocks
// until virtio_rng feeds the kernel entropy.
const firstModule = "virtio_rng"

// Result is what Load or Coldplug did, one entry per module tried.
type Result struct {
	Modules  []ModuleResult // prerequisites first, ties by name
	Duration time.Duration
}

// ModuleResult is what happened to one module.
type ModuleResult struct {
	Name          string
	Duration      time.Duration // spent in finit_module; zero when not tried
	Err           error         // nil when loaded; a *panics.Error for a bug in loading it
	Skipped       bool          // not tried: Err says why (a prerequisite failed, the deadline passed)
	AlreadyLoaded bool          // finit_module said EEXIST, which counts as loaded
}

// loadFunc loads one module file; name is for messages.
type loadFunc func(name, path string) error

// node is one module while loading.
type node struct {
	name, path string
	hard       []string // hard dependencies, by name
	wait       []*node  // hard dependencies and ordering prerequisites in the set

	done chan struct{} // closed once res is final
	res  ModuleResult  // written by the node's goroutine before done is closed

	started bool // guarded by loader.mu: loadFn was called
}

// loader runs the nodes of one loadSet call.
type loader struct {
	nodes   map[string]*node        // the set being loaded, by name
	earlier map[string]ModuleResult // modules tried before this set; read only
	loadFn  loadFunc

	mu      sync.Mutex
	stopped bool // guarded by mu: loadSet has returned, nothing may start
}

// load loads every module of ix with loadFn, each once its
// prerequisites are done, firstModule before all others. It waits for all
// of them or for ctx; a module still in loadFn then is reported as such
// and left running.
func load(ctx context.Context, ix *Index, loadFn loadFunc, logf func(string, ...any)) (Result, error) {
	start := time.Now()
	if logf == nil {
		logf = func(string, ...any) {}
	}
	names := make([]string, len(ix.mods))
	for i, m := range ix.mods {
		names[i] = m.Name
	}
	res := Result{Modules: loadSet(ctx, ix, names, nil, loadFn, logf)}
	res.Duration = time.Since(start)
	if msg := summarize(res, logf, ""); msg != "" {
		return res, errors.New("kernel modules: " + msg)
	}
	return res, nil
}

// loadSet loads names (modules of ix) with loadFn as load does and returns
// a result for each, prerequisites first. A module that names need but
// leaves out must be in earlier, the results of modules tried before: a
// module whose hard dependency failed there is skipped. A bug in loading
// one module fails that module; logf gets its stack.
func loadSet(ctx context.Context, ix *Index, names []string, earlier map[string]ModuleResult, loadFn loadFunc, logf func(string, ...any)) []ModuleResult {
	p := ix.plan(names, firstModule)

	nodes := make(map[string]*node, len(names))
	for _, n := range names {
		m, _ := ix.module(n)
		path := m.Path
		if !filepath.IsAbs(path) {
			path = filepath.Join(ix.dir, path)
		}
		nodes[m.Name] = &node{name: m.Name, path: path, hard: m.Deps, done: make(chan struct{})}
	}
	for _, n := range p.cyclic {
		nd := nodes[n]
		nd.res = ModuleResult{Name: n, Skipped: true,
			Err: fmt.Errorf("in or behind a dependency cycle in modules.dep")}
		close(nd.done)
	}
	for _, n := range p.order {
		nd := nodes[n]
		for _, d := range p.hard[n] {
			if q, ok := nodes[d]; ok {
				nd.wait = append(nd.wait, q)
			}
		}
		for _, d := range p.soft[n] {
			nd.wait = append(nd.wait, nodes[d])
		}
	}

	l := &loader{nodes: nodes, earlier: earlier, loadFn: loadFn}
	var wg sync.WaitGroup
	for _, n := range p.order {
		wg.Add(1)
		go func(nd *node) {
			defer wg.Done()
			if err := panics.Run("loading kernel module "+nd.name, logf, func() { l.run(ctx, nd) }); err != nil {
				l.failed(nd, err)
			}
		}(nodes[n])
	}
	all := make(chan struct{})
	go func() {
		defer close(all)
		_ = panics.Run("waiting for the kernel modules", logf, wg.Wait)
	}()
	select {
	case <-all:
	case <-ctx.Done():
	}
	l.mu.Lock()
	l.stopped = true
	l.mu.Unlock()

	out := make([]ModuleResult, 0, len(nodes))
	for _, n := range append(p.order, p.cyclic...) {
		nd := nodes[n]
		var r ModuleResult
		select {
		case <-nd.done:
			r = nd.res
		default:
			l.mu.Lock()
			started := nd.started
			l.mu.Unlock()
			r = ModuleResult{Name: n, Skipped: !started,
				Err: fmt.Errorf("not started: %w", context.Cause(ctx))}
			if started {
				r.Err = fmt.Errorf("still loading when the deadline passed: %w", context.Cause(ctx))
			}
		}
		out = append(out, r)
	}
	return out
}

// summarize logs every module of res not loaded and a count line ending in
// more, and returns what went wrong ("" when nothing did): the failures
// with their errors, then the names of the skipped modules.
func summarize(res Result, logf func(string, ...any), more string) string {
	var failed, skipped []string
	loaded, already := 0, 0
	for _, r := range res.Modules {
		switch {
		case r.Err == nil:
			loaded++
			if r.AlreadyLoaded {
				already++
			}
		case r.Skipped:
			skipped = append(skipped, r.Name)
			logf("kernel module %s skipped: %v", r.Name, r.Err)
		default:
			failed = append(failed, fmt.Sprintf("%s: %v", r.Name, r.Err))
			logf("kernel module %s: %v", r.Name, r.Err)
		}
	}
	logf("kernel modules: %d of %d loaded (%d already), %d failed, %d skipped, in %v%s",
		loaded, len(res.Modules), already, len(failed), len(skipped), res.Duration.Round(time.Millisecond), more)
	if len(failed)+len(skipped) == 0 {
		return ""
	}
	var msg []string
	if len(failed) > 0 {
		msg = append(msg, strings.Join(failed, "; "))
	}
	if len(skipped) > 0 {
		msg = append(msg, "skipped: "+strings.Join(skipped, ", "))
	}
	return fmt.Sprintf("%d of %d not loaded: %s", len(failed)+len(skipped), len(res.Modules), strings.Join(msg, "; "))
}

// run waits for nd's prerequisites, then loads it unless a hard
// dependency failed.
func (l *loader) run(ctx context.Context, nd *node) {
	for _, q := range nd.wait {
		select {
		case <-q.done:
		case <-ctx.Done():
			return // load reports nd as not started
		}
	}
	nd.res.Name = nd.name
	for _, d := range nd.hard {
		r, ok := l.earlier[d]
		if q, in := l.nodes[d]; in {
			r, ok = q.res, true // q.done is closed: nd waited for it
		}
		switch {
		case !ok:
			nd.res.Err = fmt.Errorf("needs %s, which modules.dep does not list", d)
		case r.Skipped:
			nd.res.Err = fmt.Errorf("needs %s, which was skipped", d)
		case r.Err != nil:
			nd.res.Err = fmt.Errorf("needs %s, which failed", d)
		default:
			continue
		}
		nd.res.Skipped = true
		close(nd.done)
		return
	}

	l.mu.Lock()
	if l.stopped || ctx.Err() != nil {
		l.mu.Unlock()
		return
	}
	nd.started = true
	l.mu.Unlock()

	t := time.Now()
	err := l.loadFn(nd.name, nd.path)
	nd.res.Duration = time.Since(t)
	if errors.Is(err, syscall.EEXIST) {
		nd.res.AlreadyLoaded = true
		err = nil
	}
	nd.res.Err = err
	close(nd.done)
}

// failed marks nd failed by err after its goroutine panicked, and done,
// so that the modules waiting for it go on (and skip it if they need it).
func (l *loader) failed(nd *node, err error) {
	select {
	case <-nd.done: // its result was final before the panic
	default:
		nd.res = ModuleResult{Name: nd.name, Duration: nd.res.Duration, Err: err}
		close(nd.done)
	}
}
