package early

import (
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

func TestParseStat(t *testing.T) {
	for _, tc := range []struct {
		in    string
		state byte
		ppid  int
		ok    bool
	}{
		{"42 (sh) Z 1 42 42 0 -1", 'Z', 1, true},
		{"43 (my (odd) name) S 7 43", 'S', 7, true},
		{"44 (x", 0, 0, false},
		{"45 (x) Z", 0, 0, false},
	} {
		state, ppid, ok := parseStat(tc.in)
		if state != tc.state || ppid != tc.ppid || ok != tc.ok {
			t.Errorf("parseStat(%q) = %c %d %v, want %c %d %v", tc.in, state, ppid, ok, tc.state, tc.ppid, tc.ok)
		}
	}
}

// A bug in the reaper ends it with a report, stack and all, and leaves its
// lock free: children are still started.
func TestReaperPanicIsReported(t *testing.T) {
	r := &Reaper{own: map[int]bool{}, zombies: func(int) []int { panic("proc broke") }}
	var log []string
	sigchld := make(chan os.Signal, 1)
	sigchld <- unix.SIGCHLD
	done := make(chan struct{})
	go func() {
		defer close(done)
		r.run(sigchld, func(format string, args ...any) { log = append(log, fmt.Sprintf(format, args...)) })
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("the panicked reaper did not end within 5 s")
	}
	text := strings.Join(log, "\n")
	for _, want := range []string{
		"internal error in the reaper of orphaned processes: proc broke",
		"early.(*Reaper).reap(",
		"orphaned processes are no longer reaped (internal error: proc broke)",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("log lacks %q:\n%s", want, text)
		}
	}
	if !r.mu.TryLock() {
		t.Error("the reaper's lock is still held after its panic")
	}
}
