package panics

import (
	"errors"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"testing"
)

type log struct {
	mu    sync.Mutex
	lines []string
}

func (l *log) printf(format string, args ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.lines = append(l.lines, fmt.Sprintf(format, args...))
}

func (l *log) text() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Join(l.lines, "\n")
}

func TestRunReturnsNilWhenFReturns(t *testing.T) {
	var l log
	ran := false
	if err := Run("nothing", l.printf, func() { ran = true }); err != nil || !ran {
		t.Fatalf("Run = %v, ran %v; want nil, true", err, ran)
	}
	if l.text() != "" {
		t.Errorf("logged %q for a function that returned", l.text())
	}
}

// indexBeyond panics with a runtime error from a frame of its own, which
// the stack must show.
func indexBeyond(s []int) int { return s[len(s)] }

// A panic in a goroutine started under Run ends neither the test binary
// nor the WaitGroup: Done still happens, the caller gets the error, and
// the log has what ran, the value and the stack.
func TestRunRecoversAGoroutinesPanic(t *testing.T) {
	var l log
	var wg sync.WaitGroup
	var err error
	closed := make(chan struct{})
	wg.Go(func() {
		err = Run("DHCP on eth1", l.printf, func() {
			defer close(closed)
			indexBeyond([]int{1, 2, 3})
		})
	})
	wg.Wait()
	<-closed
	var pe *Error
	if !errors.As(err, &pe) {
		t.Fatalf("Run = %v (%T), want an *Error", err, err)
	}
	if pe.What != "DHCP on eth1" {
		t.Errorf("What = %q", pe.What)
	}
	if _, ok := pe.Value.(runtime.Error); !ok {
		t.Errorf("Value = %v (%T), want the runtime error", pe.Value, pe.Value)
	}
	if want := "internal error: runtime error: index out of range [3] with length 3"; err.Error() != want {
		t.Errorf("Error() = %q, want %q", err.Error(), want)
	}
	got := l.text()
	for _, want := range []string{
		"internal error in DHCP on eth1: runtime error: index out of range [3] with length 3\n",
		"goroutine ",
		"panics.indexBeyond(", // the frame that panicked
		"please report it",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("log lacks %q:\n%s", want, got)
		}
	}
	if !strings.Contains(string(pe.Stack), "panics.indexBeyond(") {
		t.Errorf("Stack lacks the panicking frame:\n%s", pe.Stack)
	}
}

// panic(nil) is a panic too (Go 1.21 on): it must not pass for a return.
func TestRunRecoversPanicNil(t *testing.T) {
	err := Run("a nil panic", nil, func() { panic(nil) })
	var pe *Error
	if !errors.As(err, &pe) {
		t.Fatalf("Run = %v, want an *Error", err)
	}
	if _, ok := pe.Value.(*runtime.PanicNilError); !ok {
		t.Errorf("Value = %v (%T), want *runtime.PanicNilError", pe.Value, pe.Value)
	}
}

// runtime.Goexit (t.FailNow in a test) is not a panic: nothing is logged,
// and the goroutine ends with what it deferred run.
func TestRunLeavesGoexitAlone(t *testing.T) {
	var l log
	done := make(chan struct{})
	returned := false
	go func() {
		defer close(done)
		_ = Run("goexit", l.printf, func() { runtime.Goexit() })
		returned = true
	}()
	<-done
	if returned || l.text() != "" {
		t.Errorf("after Goexit: Run returned %v, logged %q; want neither", returned, l.text())
	}
}
