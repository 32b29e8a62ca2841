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
	"golang.org/x/sys/unix"

	"github.com/homestaker/homestaker-boot/init/config"
	"github.com/homestaker/homestaker-boot/init/console"
)

// onTerminal opens a pseudo-terminal and returns its master and the path
// of its slave, the terminal under test.
func onTerminal(t *testing.T) (master *os.File, tty string) {
	t.Helper()
	master, slave, err := pty.Open()
	if err != nil {
		t.Skipf("no pseudo-terminal here: %v", err)
	}
	t.Cleanup(func() { master.Close(); slave.Close() })
	return master, slave.Name()
}

// waitRaw waits until tty has left canonical mode: WaitKey is reading.
func waitRaw(t *testing.T, tty string) {
	t.Helper()
	f, err := os.OpenFile(tty, os.O_RDONLY|unix.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		tio, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
		if err != nil {
			t.Fatal(err)
		}
		if tio.Lflag&unix.ICANON == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("WaitKey did not put the terminal in non-canonical mode")
		}
	}
}

func TestWaitKeyTakesAnyKey(t *testing.T) {
	t.Parallel()
	master, tty := onTerminal(t)
	done := make(chan error, 1)
	go func() { done <- WaitKey(context.Background(), tty) }()
	waitRaw(t, tty)
	master.Write([]byte("x")) // no Enter
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
	t.Parallel()
	_, tty := onTerminal(t)
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	if err := WaitKey(ctx, tty); err != context.DeadlineExceeded {
		t.Errorf("WaitKey = %v, want the context's deadline", err)
	}
}

func TestCountdownCancelledByLogin(t *testing.T) {
	t.Parallel()
	_, tty := onTerminal(t)
	var out bytes.Buffer
	cancel := make(chan string, 1)
	cancel <- "an operator logged in over the rescue SSH"
	r, cancelled := countdown(console.New(&out, nil), Options{Action: config.OnFail{Action: config.OnFailReboot, Delay: time.Minute}, Cancel: cancel, Terminal: tty})
	if r != nil || !cancelled || !strings.Contains(out.String(), "reboot cancelled: an operator logged in") {
		t.Errorf("countdown = %v, %v; console %q", r, cancelled, out.String())
	}
}

// Without a terminal the countdown says that no key can cancel it, and
// runs out.
func TestCountdownWithoutTerminalRunsOut(t *testing.T) {
	t.Parallel()
	notTTY := filepath.Join(t.TempDir(), "not-a-tty")
	os.WriteFile(notTTY, nil, 0o644)
	var out bytes.Buffer
	start := time.Now()
	r, cancelled := countdown(console.New(&out, nil), Options{Action: config.OnFail{Action: config.OnFailReboot, Delay: 2 * time.Second}, Terminal: notTTY})
	if r != nil || cancelled || time.Since(start) < 1500*time.Millisecond {
		t.Errorf("countdown = %v, %v after %s", r, cancelled, time.Since(start))
	}
	for _, want := range []string{"a key press cannot cancel the reboot", "rebooting now"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("console lacks %q: %q", want, out.String())
		}
	}
}

// A bug in the key reader leaves the countdown without keys: it says so,
// with the stack on the console, and runs out.
func TestCountdownSurvivesAPanickingKeyReader(t *testing.T) {
	t.Parallel()
	var out bytes.Buffer
	con := console.New(&out, nil)
	o := Options{Action: config.OnFail{Action: config.OnFailReboot, Delay: time.Second}, Terminal: "/dev/null",
		waitKey: func(context.Context, string) error { panic("key reader broke") }}
	r, cancelled := countdown(con, o)
	if r != nil || cancelled {
		t.Errorf("countdown = %v, %v; want it to run out", r, cancelled)
	}
	for _, want := range []string{
		"internal error in reading a key on /dev/null: key reader broke",
		"onfail.TestCountdownSurvivesAPanickingKeyReader.func1(",
		"[ WARN ] onfail: internal error: key reader broke: a key press cannot cancel the reboot",
		"rebooting now",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("console lacks %q:\n%s", want, out.String())
		}
	}
}
