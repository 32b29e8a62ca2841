package kmod

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
)

// coldplug is Coldplug over an index, with the device scan and the loader
// injected. Each round scans, matches the modaliases not seen before,
// adds the always modules in the first round, and loads what that needs
// and no earlier round tried. Every round but the last loads at least one
// module, so there are at most len(ix.mods)+1 scans.
func coldplug(ctx context.Context, ix *Index, always []string, scan func() ([]string, error), loadFn loadFunc, logf func(string, ...any)) (Result, error) {
	start := time.Now()
	if logf == nil {
		logf = func(string, ...any) {}
	}
	var want []string
	var unknown []ModuleResult
	for _, a := range always {
		mods, _, ok := ix.lookup(a)
		if !ok {
			unknown = append(unknown, ModuleResult{Name: a,
				Err: fmt.Errorf("no such module, alias or built-in module in %s; check the name against modules.dep", ix.dir)})
			continue
		}
		want = append(want, mods...) // nothing when built in
	}

	aliases := ix.deviceAliases()
	seen := make(map[string]bool)          // modaliases matched in an earlier round
	tried := make(map[string]ModuleResult) // modules loaded or given up in an earlier round
	var res Result
	var problems []string // besides modules not loaded
	scans := 0
	for {
		scans++
		devs, err := scan()
		if err != nil {
			problems = append(problems, fmt.Sprintf("device scan %d: %v", scans, err))
			logf("kernel modules: device scan %d: %v", scans, err)
		}
		fresh := 0
		for _, d := range devs {
			if !seen[d] {
				seen[d] = true
				fresh++
				want = append(want, matchModalias(aliases, d)...)
			}
		}
		set := ix.closure(want, tried)
		want = nil
		if len(set) == 0 {
			break
		}
		logf("kernel modules: device scan %d: %d new modaliases, loading %s", scans, fresh, strings.Join(set, " "))
		for _, r := range loadSet(ctx, ix, set, tried, loadFn, logf) {
			tried[r.Name] = r
			res.Modules = append(res.Modules, r)
		}
		if ctx.Err() != nil {
			problems = append(problems, fmt.Sprintf("stopped after device scan %d: %v", scans, context.Cause(ctx)))
			break
		}
		if err != nil {
			break // the next scan is unlikely to do better
		}
	}
	res.Modules = append(res.Modules, unknown...)
	res.Duration = time.Since(start)
	if msg := summarize(res, logf, fmt.Sprintf(", %d device scans", scans)); msg != "" {
		problems = append([]string{msg}, problems...)
	}
	if len(problems) > 0 {
		return res, errors.New("kernel modules: " + strings.Join(problems, "; "))
	}
	return res, nil
}
