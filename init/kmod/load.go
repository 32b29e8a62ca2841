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
)

// firstModule is loaded before any other: under QEMU TCG getrandom blocks
// until virtio_rng feeds the kernel entropy.
const firstModule = "virtio_rng"

// Result is what Load did, one entry per module of modules.dep.
type Result struct {
	Modules  []ModuleResult // prerequisites first, ties by name
	Duration time.Duration
}

// ModuleResult is what happened to one module.
type ModuleResult struct {
	Name          string
	Duration      time.Duration // spent in finit_module; zero when not tried
	Err           error         // nil when loaded
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

type loader struct {
	mu      sync.Mutex
	stopped bool // guarded by mu: Load has returned, nothing may start
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
	p := ix.plan(names, firstModule)

	nodes := make(map[string]*node, len(names))
	for _, m := range ix.mods {
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

	l := &loader{}
	var wg sync.WaitGroup
	for _, n := range p.order {
		wg.Add(1)
		go func(nd *node) {
			defer wg.Done()
			l.run(ctx, nd, nodes, loadFn)
		}(nodes[n])
	}
	all := make(chan struct{})
	go func() { wg.Wait(); close(all) }()
	select {
	case <-all:
	case <-ctx.Done():
	}
	l.mu.Lock()
	l.stopped = true
	l.mu.Unlock()

	res := Result{Modules: make([]ModuleResult, 0, len(nodes))}
	var failed, skipped []string
	loaded, already := 0, 0
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
		res.Modules = append(res.Modules, r)
		switch {
		case r.Err == nil:
			loaded++
			if r.AlreadyLoaded {
				already++
			}
		case r.Skipped:
			skipped = append(skipped, n)
			logf("kernel module %s skipped: %v", n, r.Err)
		default:
			failed = append(failed, fmt.Sprintf("%s: %v", n, r.Err))
			logf("kernel module %s: %v", n, r.Err)
		}
	}
	res.Duration = time.Since(start)
	logf("kernel modules: %d of %d loaded (%d already), %d failed, %d skipped, in %v",
		loaded, len(res.Modules), already, len(failed), len(skipped), res.Duration.Round(time.Millisecond))
	if len(failed)+len(skipped) == 0 {
		return res, nil
	}
	var msg []string
	if len(failed) > 0 {
		msg = append(msg, strings.Join(failed, "; "))
	}
	if len(skipped) > 0 {
		msg = append(msg, "skipped: "+strings.Join(skipped, ", "))
	}
	return res, fmt.Errorf("kernel modules: %d of %d not loaded: %s",
		len(failed)+len(skipped), len(res.Modules), strings.Join(msg, "; "))
}

// run waits for nd's prerequisites, then loads it unless a hard
// dependency failed.
func (l *loader) run(ctx context.Context, nd *node, nodes map[string]*node, loadFn loadFunc) {
	for _, q := range nd.wait {
		select {
		case <-q.done:
		case <-ctx.Done():
			return // load reports nd as not started
		}
	}
	nd.res.Name = nd.name
	for _, d := range nd.hard {
		q, ok := nodes[d]
		switch {
		case !ok:
			nd.res.Err = fmt.Errorf("needs %s, which modules.dep does not list", d)
		case q.res.Skipped:
			nd.res.Err = fmt.Errorf("needs %s, which was skipped", d)
		case q.res.Err != nil:
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
	err := loadFn(nd.name, nd.path)
	nd.res.Duration = time.Since(t)
	if errors.Is(err, syscall.EEXIST) {
		nd.res.AlreadyLoaded = true
		err = nil
	}
	nd.res.Err = err
	close(nd.done)
}
