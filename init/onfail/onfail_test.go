package onfail

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/creack/pty"

	"github.com/homestaker/homestaker-boot/init/config"
	"github.com/homestaker/homestaker-boot/init/console"
)

func onTerminal(t *testing.T) *os.File {
	t.Helper()
	master, slave, err := pty.Open()
	if err != nil {
		t.Skipf("no pseudo-terminal here: %v", err)
	}
	t.Cleanup(func() { master.Close(); slave.Close() })
	t.Cleanup(func() { consolePath = "/dev/console" })
	consolePath = slave.Name()
	return master
}

func TestWaitKeyTakesAnyKey(t *testing.T) {
	master := onTerminal(t)
	done := make(chan error, 1)
	go func() { done <- WaitKey(context.Background()) }()
	time.Sleep(300 * time.Millisecond) // past the flush of earlier input
	master.Write([]byte("x"))          // no Enter
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("a key without Enter did not end the wait")
	}
}

func TestWaitKeyEndsWithContext(t *testing.T) {
	onTerminal(t)
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	if err := WaitKey(ctx); err != context.DeadlineExceeded {
		t.Errorf("WaitKey = %v, want the context's deadline", err)
	}
}

func TestCountdownCancelledByLogin(t *testing.T) {
	onTerminal(t)
	var out bytes.Buffer
	cancel := make(chan string, 1)
	cancel <- "an operator logged in over the rescue SSH"
	r, cancelled := countdown(console.New(&out, nil), Options{Action: config.OnFail{Action: config.OnFailReboot, Delay: time.Minute}, Cancel: cancel})
	if r != nil || !cancelled || !strings.Contains(out.String(), "reboot cancelled: an operator logged in") {
		t.Errorf("countdown = %v, %v; console %q", r, cancelled, out.String())
	}
}

// Without a terminal the countdown says that no key can cancel it, and
// runs out.
func TestCountdownWithoutTerminalRunsOut(t *testing.T) {
	consolePath = filepath.Join(t.TempDir(), "not-a-tty")
	os.WriteFile(consolePath, nil, 0o644)
	defer func() { consolePath = "/dev/console" }()
	var out bytes.Buffer
	start := time.Now()
	r, cancelled := countdown(console.New(&out, nil), Options{Action: config.OnFail{Action: config.OnFailReboot, Delay: 2 * time.Second}})
	if r != nil || cancelled || time.Since(start) < 1500*time.Millisecond {
		t.Errorf("countdown = %v, %v after %s", r, cancelled, time.Since(start))
	}
	for _, want := range []string{"a key press cannot cancel the reboot", "rebooting now"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("console lacks %q: %q", want, out.String())
		}
	}
}
