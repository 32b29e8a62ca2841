// Package plan runs the boot's stages: each after the stages it needs,
// independent ones concurrently, each bounded by its timeout, each
// recorded into the boot report and announced on the console.
package plan

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/homestaker/homestaker-boot/init/console"
	"github.com/homestaker/homestaker-boot/init/panics"
	"github.com/homestaker/homestaker-boot/init/report"
)

// Stage is one step of the boot.
type Stage struct {
	Name  string
	After []string // stages that must succeed before this one starts
	// Timeout bounds the stage; 0 means none. TimeoutKey names the
	// command-line parameter that sets it, for the operator.
	Timeout    time.Duration
	TimeoutKey string
	// Rerun runs the stage again at every retry, even when it succeeded:
	// what it produced (open files, bytes it verified) is used up by the
	// stages after it or may have been changed by the operator since.
	Rerun bool
	Run   func(ctx context.Context, rec *Record) error
}

// Record is what a running stage tells the operator and the report.
type Record struct {
	mu        sync.Mutex // guards everything below; stages may report from goroutines
	con       *console.Console
	rep       *report.Report
	stage     string
	start     time.Duration
	began     time.Time
	announced bool
	summary   string
	facts     map[string]any
	warnings  []string
}

// Summary sets the text of the stage's status line.
func (r *Record) Summary(format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.summary = fmt.Sprintf(format, args...)
}

// Fact records something the stage found, for the report. Never a secret.
func (r *Record) Fact(key string, value any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.facts == nil {
		r.facts = map[string]any{}
	}
	r.facts[key] = value
}

// Warn prints a warning now and records it; the stage still succeeds.
func (r *Record) Warn(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	r.con.Status(console.Warn, r.stage, "%s", msg)
	r.mu.Lock()
	defer r.mu.Unlock()
	r.warnings = append(r.warnings, msg)
}

// Announce prints the stage's OK line and records it now, for a stage
// that will not return when it succeeds (the handover).
func (r *Record) Announce() {
	st := r.result()
	st.Status = report.OK
	r.mu.Lock()
	r.announced = true
	r.mu.Unlock()
	r.rep.Add(st)
	r.con.Status(console.OK, r.stage, "%s (%s)", orDone(st.Summary), round(st.Duration))
}

func (r *Record) result() report.Stage {
	r.mu.Lock()
	defer r.mu.Unlock()
	return report.Stage{Name: r.stage, Start: r.start, Duration: time.Since(r.began), Summary: r.summary, Facts: r.facts, Warnings: r.warnings}
}

// Printf prints a progress line for the stage without a status tag.
func (r *Record) Printf(format string, args ...any) {
	r.con.Progress(r.stage, fmt.Sprintf(format, args...))
}

// Runner runs a plan.
type Runner struct {
	Console *console.Console
	Report  *report.Report
	// Break names a stage to stop before (homestaker.break); OnBreak is
	// called there and the boot goes on when it returns.
	Break   string
	OnBreak func(stage string)
	// Grace is how long a stage may overrun its timeout before the runner
	// stops waiting for it: a stage that ignores its context must not hang
	// the boot without a word.
	Grace time.Duration
	// Uptime tells the time since kernel start (console.Uptime by default).
	Uptime func() time.Duration

	mu        sync.Mutex
	ok        map[string]bool      // stages that succeeded in an earlier Run
	deadlines map[string]time.Time // running stages with a timeout: when the runner gives up on them
}

// Watched reports whether a running stage is still within its timeout:
// then the boot cannot hang, since the runner gives up on the stage at the
// deadline. The watchdog uses it to tell a long wait from a hang.
func (r *Runner) Watched() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	now := time.Now()
	for _, d := range r.deadlines {
		if now.Before(d) {
			return true
		}
	}
	return false
}

func (r *Runner) setDeadline(stage string, d time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.deadlines == nil {
		r.deadlines = map[string]time.Time{}
	}
	if d.IsZero() {
		delete(r.deadlines, stage)
		return
	}
	r.deadlines[stage] = d
}

// Run runs the stages and returns the first failure in plan order, or nil.
// A stage whose prerequisite failed or was skipped is skipped, but stages
// that do not need the failed one still run: a bad JWT must not keep the
// tunnel down, since the operator needs the tunnel to fix it.
//
// Run again after a failure (`homestaker retry`), it runs only the stages
// that did not succeed before: the failed one and those skipped for it.
func (r *Runner) Run(ctx context.Context, stages []Stage) *report.Failure {
	if err := check(stages); err != nil {
		f := &report.Failure{Stage: "plan", Expected: "a valid boot plan", Found: err.Error(), Action: "this is a bug in homestaker-boot; please report it with the console log"}
		return f
	}
	uptime := r.Uptime
	if uptime == nil {
		uptime = console.Uptime
	}
	type outcome struct {
		done    chan struct{}
		status  report.Status
		failure *report.Failure
	}
	out := make(map[string]*outcome, len(stages))
	for _, s := range stages {
		out[s.Name] = &outcome{done: make(chan struct{})}
	}
	var breakMu sync.Mutex // one break shell at a time on the console
	var wg sync.WaitGroup
	for _, s := range stages {
		wg.Add(1)
		go func(s Stage) {
			defer wg.Done()
			o := out[s.Name]
			defer close(o.done)
			// A bug in the runner or in OnBreak fails the stage, not the
			// init; the stage's own body is guarded in runOne.
			err := panics.Run("the runner of stage "+s.Name, r.Console.Printf, func() {
				if r.succeeded(s.Name) && !s.Rerun {
					o.status = report.OK
					return
				}
				for _, dep := range s.After {
					d := out[dep]
					<-d.done
					if d.status == report.Failed || d.status == report.Skipped {
						o.status = report.Skipped
						why := fmt.Sprintf("not run: needs %s, which %s", dep, d.status)
						r.Console.Status(console.Skipped, s.Name, "%s", why)
						r.Report.Add(report.Stage{Name: s.Name, Status: report.Skipped, Start: uptime(), Summary: why})
						return
					}
				}
				if r.Break != "" && r.Break == s.Name && r.OnBreak != nil {
					func() {
						breakMu.Lock()
						defer breakMu.Unlock() // also when OnBreak panics
						r.Console.Status(console.Info, "break", "stopping before %s (homestaker.break=%s); the boot goes on when the shell exits", s.Name, s.Name)
						r.OnBreak(s.Name)
					}()
				}
				o.status, o.failure = r.runOne(ctx, s, uptime)
				if o.failure == nil {
					r.mu.Lock()
					if r.ok == nil {
						r.ok = map[string]bool{}
					}
					r.ok[s.Name] = true
					r.mu.Unlock()
				}
			})
			if err != nil {
				o.status, o.failure = report.Failed, asFailure(s, err)
				r.Report.Add(report.Stage{Name: s.Name, Status: report.Failed, Start: uptime(), Failure: o.failure})
				r.Console.Status(console.Failed, s.Name, "%s", o.failure.Found)
			}
		}(s)
	}
	wg.Wait()
	for _, s := range stages {
		if f := out[s.Name].failure; f != nil {
			return f
		}
	}
	return nil
}

func (r *Runner) succeeded(name string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.ok[name]
}

func (r *Runner) runOne(ctx context.Context, s Stage, uptime func() time.Duration) (report.Status, *report.Failure) {
	rec := &Record{con: r.Console, rep: r.Report, stage: s.Name, start: uptime(), began: time.Now()}
	sctx, cancel := ctx, context.CancelFunc(func() {})
	if s.Timeout > 0 {
		sctx, cancel = context.WithTimeout(ctx, s.Timeout)
	}
	defer cancel()

	// The deadline is set before the stage starts: it is watched from
	// its first line on.
	var timeout <-chan time.Time
	if s.Timeout > 0 {
		grace := r.Grace
		if grace == 0 {
			grace = 2 * time.Second
		}
		timer := time.NewTimer(s.Timeout + grace)
		defer timer.Stop()
		timeout = timer.C
		r.setDeadline(s.Name, time.Now().Add(s.Timeout+grace))
		defer r.setDeadline(s.Name, time.Time{})
	}
	errc := make(chan error, 1)
	go func() {
		var err error
		if perr := panics.Run("stage "+s.Name, r.Console.Printf, func() { err = s.Run(sctx, rec) }); perr != nil {
			err = perr
		}
		errc <- err
	}()

	var err error
	select {
	case err = <-errc:
	case <-timeout: // nil without a timeout: never
		err = context.DeadlineExceeded
	}
	st := rec.result()
	dur := st.Duration
	if err == nil {
		rec.mu.Lock()
		announced := rec.announced
		rec.mu.Unlock()
		if announced {
			return report.OK, nil
		}
		st.Status = report.OK
		if len(st.Warnings) > 0 {
			st.Status = report.Warning
		}
		r.Report.Add(st)
		r.Console.Status(console.OK, s.Name, "%s (%s)", orDone(st.Summary), round(dur))
		return st.Status, nil
	}
	f := asFailure(s, err)
	st.Status, st.Failure = report.Failed, f
	r.Report.Add(st)
	r.Console.Status(console.Failed, s.Name, "%s (%s)", f.Found, round(dur))
	return report.Failed, f
}

// asFailure turns any error into the operator's error shape.
func asFailure(s Stage, err error) *report.Failure {
	var f *report.Failure
	if errors.As(err, &f) {
		c := *f
		c.Stage = s.Name
		return &c
	}
	if errors.Is(err, context.DeadlineExceeded) {
		action := "check the console lines above for what it was waiting on"
		if s.TimeoutKey != "" {
			action += fmt.Sprintf("; a slow machine may need a longer %s=", s.TimeoutKey)
		}
		return &report.Failure{Stage: s.Name, Expected: fmt.Sprintf("%s to finish within %s", s.Name, s.Timeout), Found: "it did not", Action: action}
	}
	var bug *panics.Error
	if errors.As(err, &bug) {
		return &report.Failure{Stage: s.Name, Expected: s.Name + " to succeed", Found: err.Error(), Action: "this is a bug in homestaker-boot; report it with the console log, which has its stack"}
	}
	return &report.Failure{Stage: s.Name, Expected: s.Name + " to succeed", Found: err.Error(), Action: "check the console lines above; the boot report has the details"}
}

func orDone(s string) string {
	if s == "" {
		return "done"
	}
	return s
}

func round(d time.Duration) time.Duration {
	if d < time.Second {
		return d.Round(time.Millisecond)
	}
	return d.Round(10 * time.Millisecond)
}

// check refuses a plan with duplicate names, unknown prerequisites or
// cycles: each would otherwise deadlock or silently skip a stage.
func check(stages []Stage) error {
	idx := map[string]int{}
	for i, s := range stages {
		if s.Name == "" || s.Run == nil {
			return fmt.Errorf("stage %d has no name or no Run", i)
		}
		if _, dup := idx[s.Name]; dup {
			return fmt.Errorf("stage %q appears twice", s.Name)
		}
		idx[s.Name] = i
	}
	for _, s := range stages {
		for _, d := range s.After {
			if _, ok := idx[d]; !ok {
				return fmt.Errorf("stage %q needs unknown stage %q", s.Name, d)
			}
		}
	}
	// Depth-first search for a cycle.
	state := map[string]int{} // 0 new, 1 on stack, 2 done
	var visit func(n string) error
	visit = func(n string) error {
		switch state[n] {
		case 1:
			return fmt.Errorf("stages form a cycle through %q", n)
		case 2:
			return nil
		}
		state[n] = 1
		deps := append([]string(nil), stages[idx[n]].After...)
		sort.Strings(deps)
		for _, d := range deps {
			if err := visit(d); err != nil {
				return err
			}
		}
		state[n] = 2
		return nil
	}
	for _, s := range stages {
		if err := visit(s.Name); err != nil {
			return err
		}
	}
	return nil
}
