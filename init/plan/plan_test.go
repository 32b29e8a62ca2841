package plan

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/homestaker/homestaker-boot/init/console"
	"github.com/homestaker/homestaker-boot/init/report"
)

func newRunner() (*Runner, *bytes.Buffer, *report.Report) {
	var buf bytes.Buffer
	rep := &report.Report{}
	return &Runner{Console: console.New(&buf, nil), Report: rep, Grace: 50 * time.Millisecond, Uptime: func() time.Duration { return 0 }}, &buf, rep
}

func ok(context.Context, *Record) error { return nil }

func TestConcurrentStagesAndOrder(t *testing.T) {
	r, _, rep := newRunner()
	var running, maxRunning, finished int32
	// Each of the two waits for the other to start: a runner that runs
	// them one after the other lets the first go after a while, with
	// maxRunning 1.
	var started sync.WaitGroup
	started.Add(2)
	bothIn := make(chan struct{})
	go func() { started.Wait(); close(bothIn) }()
	both := func(ctx context.Context, rec *Record) error {
		n := atomic.AddInt32(&running, 1)
		for {
			m := atomic.LoadInt32(&maxRunning)
			if n <= m || atomic.CompareAndSwapInt32(&maxRunning, m, n) {
				break
			}
		}
		started.Done()
		select {
		case <-bothIn:
		case <-time.After(5 * time.Second):
		}
		atomic.AddInt32(&finished, 1)
		atomic.AddInt32(&running, -1)
		return nil
	}
	var finishedBefore int32 = -1
	last := func(ctx context.Context, rec *Record) error {
		finishedBefore = atomic.LoadInt32(&finished)
		return nil
	}
	f := r.Run(context.Background(), []Stage{
		{Name: "early", Run: ok},
		{Name: "network", After: []string{"early"}, Run: both},
		{Name: "storage", After: []string{"early"}, Run: both},
		{Name: "secrets", After: []string{"storage", "network"}, Run: last},
	})
	if f != nil {
		t.Fatalf("unexpected failure %v", f)
	}
	if maxRunning != 2 {
		t.Errorf("network and storage ran %d at a time, want 2", maxRunning)
	}
	if finishedBefore != 2 {
		t.Errorf("secrets started after %d of its 2 prerequisites finished", finishedBefore)
	}
	if len(rep.Stages) != 4 || rep.Stages[3].Name != "secrets" {
		t.Errorf("report stages = %+v", rep.Stages)
	}
}

func TestFailureSkipsDependantsOnly(t *testing.T) {
	r, buf, rep := newRunner()
	var wgRan bool
	f := r.Run(context.Background(), []Stage{
		{Name: "network", Run: ok},
		{Name: "secrets", Run: func(context.Context, *Record) error {
			return report.Fail("a JWT in secrets/jwt.hex", "no jwt.hex", "run homestaker prepare")
		}},
		{Name: "wireguard", After: []string{"network"}, Run: func(context.Context, *Record) error { wgRan = true; return nil }},
		{Name: "handover", After: []string{"secrets", "wireguard"}, Run: ok},
	})
	if f == nil || f.Stage != "secrets" || f.Found != "no jwt.hex" {
		t.Fatalf("failure = %+v, want the secrets failure", f)
	}
	if !wgRan {
		t.Error("wireguard did not run although it does not need secrets")
	}
	h, _ := rep.Stage("handover")
	if h.Status != report.Skipped {
		t.Errorf("handover status = %q, want skipped", h.Status)
	}
	if !strings.Contains(buf.String(), "[ SKIP ] handover: not run: needs secrets, which failed") {
		t.Errorf("console lacks the skip line:\n%s", buf.String())
	}
}

func TestTimeoutOfStageIgnoringContext(t *testing.T) {
	r, buf, _ := newRunner()
	never := make(chan struct{}) // until the test ends
	t.Cleanup(func() { close(never) })
	f := r.Run(context.Background(), []Stage{
		{Name: "network", Timeout: 20 * time.Millisecond, TimeoutKey: "homestaker.timeout.net", Run: func(context.Context, *Record) error {
			<-never
			return nil
		}},
	})
	if f == nil || !strings.Contains(f.Action, "homestaker.timeout.net=") {
		t.Fatalf("failure = %+v, want a timeout naming the parameter", f)
	}
	if !strings.Contains(buf.String(), "[FAILED] network") {
		t.Errorf("console:\n%s", buf.String())
	}
}

func TestPanicBecomesFailure(t *testing.T) {
	r, buf, _ := newRunner()
	f := r.Run(context.Background(), []Stage{{Name: "storage", Run: func(context.Context, *Record) error {
		var m map[string]int
		m["x"] = 1
		return nil
	}}})
	if f == nil || f.Found != "internal error: assignment to entry in nil map" || !strings.Contains(f.Action, "bug") {
		t.Fatalf("failure = %+v, want an internal error", f)
	}
	for _, want := range []string{
		"internal error in stage storage: assignment to entry in nil map",
		"plan.TestPanicBecomesFailure.func1(", // the stack, for the bug report
		"[FAILED] storage: internal error: assignment to entry in nil map",
	} {
		if !strings.Contains(buf.String(), want) {
			t.Errorf("console lacks %q:\n%s", want, buf.String())
		}
	}
}

// A panic outside the stage's body (here in the break shell, which runs in
// the runner's goroutine for the stage) fails that stage: what needs it is
// skipped, the rest runs, and Run returns.
func TestPanicInOnBreakFailsTheStage(t *testing.T) {
	r, buf, rep := newRunner()
	r.Break = "storage"
	r.OnBreak = func(string) { panic("the shell broke") }
	ran := false
	f := r.Run(context.Background(), []Stage{
		{Name: "network", Run: ok},
		{Name: "storage", Run: func(context.Context, *Record) error { ran = true; return nil }},
		{Name: "secrets", After: []string{"storage"}, Run: ok},
	})
	if f == nil || f.Stage != "storage" || f.Found != "internal error: the shell broke" {
		t.Fatalf("failure = %+v, want storage's internal error", f)
	}
	if ran {
		t.Error("storage ran after its break shell panicked")
	}
	for _, want := range []string{
		"[  OK  ] network",
		"internal error in the runner of stage storage: the shell broke",
		"[FAILED] storage: internal error: the shell broke",
		"[ SKIP ] secrets: not run: needs storage, which failed",
	} {
		if !strings.Contains(buf.String(), want) {
			t.Errorf("console lacks %q:\n%s", want, buf.String())
		}
	}
	if st := rep.Stages; len(st) != 3 {
		t.Errorf("report stages %+v, want network, storage and secrets", st)
	}
}

func TestPlainErrorGetsStage(t *testing.T) {
	r, _, _ := newRunner()
	f := r.Run(context.Background(), []Stage{{Name: "nextstage", Run: func(context.Context, *Record) error { return errors.New("boom") }}})
	if f == nil || f.Stage != "nextstage" || f.Found != "boom" {
		t.Fatalf("failure = %+v", f)
	}
}

func TestBreakStopsBeforeStage(t *testing.T) {
	r, buf, _ := newRunner()
	var seq []string
	r.Break = "handover"
	r.OnBreak = func(stage string) { seq = append(seq, "break:"+stage) }
	f := r.Run(context.Background(), []Stage{
		{Name: "nextstage", Run: func(context.Context, *Record) error { seq = append(seq, "nextstage"); return nil }},
		{Name: "handover", After: []string{"nextstage"}, Run: func(context.Context, *Record) error { seq = append(seq, "handover"); return nil }},
	})
	if f != nil {
		t.Fatal(f)
	}
	if got := strings.Join(seq, " "); got != "nextstage break:handover handover" {
		t.Errorf("sequence = %q", got)
	}
	if !strings.Contains(buf.String(), "homestaker.break=handover") {
		t.Errorf("console:\n%s", buf.String())
	}
}

func TestBadPlans(t *testing.T) {
	for name, stages := range map[string][]Stage{
		"duplicate": {{Name: "a", Run: ok}, {Name: "a", Run: ok}},
		"unknown":   {{Name: "a", After: []string{"b"}, Run: ok}},
		"cycle":     {{Name: "a", After: []string{"b"}, Run: ok}, {Name: "b", After: []string{"a"}, Run: ok}},
		"no run":    {{Name: "a"}},
	} {
		r, _, _ := newRunner()
		if f := r.Run(context.Background(), stages); f == nil || f.Stage != "plan" {
			t.Errorf("%s: failure = %+v, want a plan failure", name, f)
		}
	}
}

// A retry runs the failed stage and those skipped for it, not the stages
// that succeeded.
func TestRunAgainResumesFromTheFailure(t *testing.T) {
	r, _, rep := newRunner()
	runs := map[string]int{}
	count := func(name string, err *error) func(context.Context, *Record) error {
		return func(context.Context, *Record) error {
			runs[name]++
			return *err
		}
	}
	var none error
	jwt := errors.New("no JWT")
	stages := []Stage{
		{Name: "storage", Run: count("storage", &none)},
		{Name: "secrets", After: []string{"storage"}, Run: count("secrets", &jwt)},
		{Name: "handover", After: []string{"secrets"}, Run: count("handover", &none)},
	}
	if f := r.Run(context.Background(), stages); f == nil || f.Stage != "secrets" {
		t.Fatalf("first run: %v, want the secrets failure", f)
	}
	jwt = nil // the operator copied the JWT
	if f := r.Run(context.Background(), stages); f != nil {
		t.Fatalf("second run: %v", f)
	}
	if runs["storage"] != 1 || runs["secrets"] != 2 || runs["handover"] != 1 {
		t.Errorf("runs = %v, want storage once, secrets twice, handover once", runs)
	}
	if s, _ := rep.Stage("secrets"); s.Status != report.OK || s.Attempt != 1 {
		t.Errorf("report has secrets %+v", s)
	}
}

// A stage within its timeout is watched (the runner bounds it); a stage
// without a timeout is not.
func TestWatched(t *testing.T) {
	r, _, _ := newRunner()
	seen := map[string]bool{}
	look := func(name string) func(context.Context, *Record) error {
		return func(context.Context, *Record) error {
			seen[name] = r.Watched()
			return nil
		}
	}
	r.Run(context.Background(), []Stage{
		{Name: "network", Timeout: time.Minute, Run: look("network")},
		{Name: "secrets", After: []string{"network"}, Run: look("secrets")},
	})
	if !seen["network"] || seen["secrets"] {
		t.Errorf("Watched during the stages: %v, want network true, secrets false", seen)
	}
	if r.Watched() {
		t.Error("Watched after the plan ended")
	}
}
