package watchdog

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// The driver's ioctls are tested in the VM tests (QEMU's i6300esb); here,
// what happens without one.
func TestArmWithoutAWatchdog(t *testing.T) {
	_, err := Arm(filepath.Join(t.TempDir(), "watchdog"), time.Minute)
	if !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Arm of a missing device: %v, want ErrNotExist", err)
	}
	notDev := filepath.Join(t.TempDir(), "watchdog")
	os.WriteFile(notDev, nil, 0o644)
	_, err = Arm(notDev, time.Minute)
	if err == nil || !strings.Contains(err.Error(), notDev) || !strings.Contains(err.Error(), "refused the timeout 1m0s") {
		t.Errorf("Arm of a plain file: %v", err)
	}
	// The refused device was disarmed with the magic close.
	if b, _ := os.ReadFile(notDev); string(b) != "V" {
		t.Errorf("the refused device got %q, want the magic close V", b)
	}
}

func TestNilDogIsSafe(t *testing.T) {
	var d *Dog
	d.Hold()
	d.Release()
	if d.Stop() != nil || d.Keep() != nil {
		t.Error("a nil Dog did something")
	}
}
