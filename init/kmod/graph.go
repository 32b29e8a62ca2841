package kmod

import (
	"slices"
	"sort"
)

// plan orders a set of modules. Hard dependencies (modules.dep) must load
// first and their failure stops the module; softdeps only order: pre:
// modules go before, post: modules after, and a softdep that would close a
// cycle is dropped, as is one that names a module outside the set.
type plan struct {
	order  []string            // every module not in cyclic, prerequisites first, ties by name
	hard   map[string][]string // hard dependencies, including ones outside the set
	soft   map[string][]string // ordering-only prerequisites, all inside the set
	cyclic []string            // in or behind a cycle of hard dependencies, sorted
}

// plan orders names (loadable modules of ix). When first is in the set, it
// and its prerequisites go before everything else.
func (ix *Index) plan(names []string, first string) *plan {
	in := make(map[string]bool, len(names))
	for _, n := range names {
		in[n] = true
	}
	set := make([]string, 0, len(in))
	for n := range in {
		set = append(set, n)
	}
	sort.Strings(set)

	p := &plan{hard: make(map[string][]string), soft: make(map[string][]string)}
	for _, n := range set {
		m, _ := ix.module(n)
		p.hard[n] = m.Deps
	}
	// prereqs lists what n waits for inside the set.
	prereqs := func(n string) []string {
		var out []string
		for _, d := range p.hard[n] {
			if in[d] {
				out = append(out, d)
			}
		}
		return append(out, p.soft[n]...)
	}

	ordered := topo(set, prereqs)
	if len(ordered) < len(set) {
		done := make(map[string]bool, len(ordered))
		for _, n := range ordered {
			done[n] = true
		}
		for _, n := range set {
			if !done[n] {
				p.cyclic = append(p.cyclic, n)
				delete(in, n)
			}
		}
	}

	// ancestors returns what n waits for, directly or not.
	ancestors := func(n string) map[string]bool {
		seen := make(map[string]bool)
		stack := []string{n}
		for len(stack) > 0 {
			m := stack[len(stack)-1]
			stack = stack[:len(stack)-1]
			for _, q := range prereqs(m) {
				if !seen[q] {
					seen[q] = true
					stack = append(stack, q)
				}
			}
		}
		return seen
	}
	// before makes b wait for a unless that closes a cycle.
	before := func(a, b string) {
		if a == b || !in[a] || !in[b] || slices.Contains(prereqs(b), a) || ancestors(a)[b] {
			return
		}
		p.soft[b] = append(p.soft[b], a)
	}
	for _, n := range set {
		if !in[n] {
			continue
		}
		pre, post := ix.softdepNames(n)
		for _, q := range pre {
			before(q, n)
		}
		for _, q := range post {
			before(n, q)
		}
	}
	if in[first] {
		anc := ancestors(first)
		for _, n := range set {
			if in[n] && n != first && !anc[n] {
				p.soft[n] = append(p.soft[n], first)
			}
		}
	}

	live := make([]string, 0, len(in))
	for _, n := range set {
		if in[n] {
			live = append(live, n)
		}
	}
	p.order = topo(live, prereqs)
	return p
}

// topo returns the names of set whose prerequisites all come before them
// (Kahn's algorithm, the smallest ready name first); names in or behind a
// cycle are left out. set must be sorted.
func topo(set []string, prereqs func(string) []string) []string {
	in := make(map[string]bool, len(set))
	for _, n := range set {
		in[n] = true
	}
	waiting := make(map[string]int, len(set))
	users := make(map[string][]string)
	for _, n := range set {
		for _, q := range prereqs(n) {
			if in[q] {
				waiting[n]++
				users[q] = append(users[q], n)
			}
		}
	}
	var ready, out []string
	for _, n := range set {
		if waiting[n] == 0 {
			ready = append(ready, n)
		}
	}
	for len(ready) > 0 {
		n := ready[0]
		ready = ready[1:]
		out = append(out, n)
		for _, u := range users[n] {
			if waiting[u]--; waiting[u] == 0 {
				i, _ := slices.BinarySearch(ready, u)
				ready = slices.Insert(ready, i, u)
			}
		}
	}
	return out
}
