package watchdog

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// The driver's ioctls are tested in the VM tests (QEMU's i6300esb); here,
// what happens without one.
func TestArmWithoutAWatchdog(t *testing.T) {
	t.Parallel()
	_, err := Arm(filepath.Join(t.TempDir(), "watchdog"), time.Minute, t.Logf)
	if !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Arm of a missing device: %v, want ErrNotExist", err)
	}
	notDev := filepath.Join(t.TempDir(), "watchdog")
	os.WriteFile(notDev, nil, 0o644)
	_, err = Arm(notDev, time.Minute, t.Logf)
	if err == nil || !strings.Contains(err.Error(), notDev) || !strings.Contains(err.Error(), "refused the timeout 1m0s") {
		t.Errorf("Arm of a plain file: %v", err)
	}
	// The refused device was disarmed with the magic close.
	if b, _ := os.ReadFile(notDev); string(b) != "V" {
		t.Errorf("the refused device got %q, want the magic close V", b)
	}
}

// A nil Dog is a machine without a watchdog: the init calls it as it
// calls an armed one, and nothing happens. Watch never asks alive (there
// are no pings to gate), and Stop and Keep succeed, in any order and as
// often as the boot's paths call them.
func TestNilDogIsSafe(t *testing.T) {
	t.Parallel()
	var d *Dog
	asked := false
	d.Watch(func() bool { asked = true; return false })
	d.Hold()
	d.Release()
	for _, end := range []struct {
		name string
		f    func() error
	}{{"Stop", d.Stop}, {"Keep", d.Keep}, {"Stop", d.Stop}, {"Keep", d.Keep}} {
		if err := end.f(); err != nil {
			t.Errorf("%s of a nil Dog = %v, want nil", end.name, err)
		}
	}
	if asked {
		t.Error("a nil Dog asked whether the boot is alive")
	}
}

// Keep closes the device without the magic close, so the watchdog runs on
// across the kexec; Stop after it has nothing left to do.
func TestKeepLeavesTheWatchdogRunning(t *testing.T) {
	t.Parallel()
	dev := filepath.Join(t.TempDir(), "watchdog")
	d := onFile(t, dev)
	if err := d.Keep(); err != nil {
		t.Fatalf("Keep: %v", err)
	}
	if err := d.Stop(); err != nil {
		t.Errorf("Stop after Keep: %v", err)
	}
	if b, _ := os.ReadFile(dev); len(b) != 0 {
		t.Errorf("the kept device got %q, want nothing (no magic close)", b)
	}
}

// Stop disarms with the magic close, once.
func TestStopDisarms(t *testing.T) {
	t.Parallel()
	dev := filepath.Join(t.TempDir(), "watchdog")
	d := onFile(t, dev)
	if err := d.Stop(); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	if err := d.Keep(); err != nil {
		t.Errorf("Keep after Stop: %v", err)
	}
	if err := d.Stop(); err != nil {
		t.Errorf("Stop again: %v", err)
	}
	if b, _ := os.ReadFile(dev); string(b) != "V" {
		t.Errorf("the stopped device got %q, want one magic close V", b)
	}
}

// onFile is a Dog on a plain file, as Arm would make it on a driver that
// takes every ioctl: its pings fail quietly (ENOTTY) and write nothing.
func onFile(t *testing.T, dev string) *Dog {
	t.Helper()
	f, err := os.OpenFile(dev, os.O_WRONLY|os.O_CREATE, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	d := &Dog{f: f, Timeout: 30 * time.Millisecond, stop: make(chan struct{}), done: make(chan struct{})}
	go d.run()
	return d
}

// A bug in the pinger (here alive panics) ends the pings: the watchdog
// will reset the machine, and the log says so, with the stack. Stop still
// returns: the pinger's done channel is closed.
func TestPingerPanicIsReportedLoudly(t *testing.T) {
	t.Parallel()
	f, err := os.OpenFile(filepath.Join(t.TempDir(), "watchdog"), os.O_WRONLY|os.O_CREATE, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var log []string
	logged := make(chan struct{}, 2)
	d := &Dog{f: f, Identity: "test dog", Timeout: 30 * time.Millisecond, stop: make(chan struct{}), done: make(chan struct{}),
		logf: func(format string, args ...any) {
			mu.Lock()
			defer mu.Unlock()
			log = append(log, fmt.Sprintf(format, args...))
			logged <- struct{}{}
		}}
	d.Watch(func() bool { panic("alive broke") })
	go d.run()
	for range 2 {
		select {
		case <-logged:
		case <-time.After(5 * time.Second):
			t.Fatal("the pinger's panic was not reported within 5 s")
		}
	}
	mu.Lock()
	text := strings.Join(log, "\n")
	mu.Unlock()
	for _, want := range []string{
		"internal error in the watchdog's pinger: alive broke",
		"watchdog.(*Dog).pings(",
		`the watchdog "test dog" is no longer pinged (internal error: alive broke): it resets the machine within 30ms`,
	} {
		if !strings.Contains(text, want) {
			t.Errorf("log lacks %q:\n%s", want, text)
		}
	}
	stopped := make(chan error, 1)
	go func() { stopped <- d.Stop() }()
	select {
	case <-stopped:
	case <-time.After(5 * time.Second):
		t.Fatal("Stop hangs after the pinger's panic")
	}
}
