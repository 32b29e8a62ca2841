package superblock

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

var errNot = errors.New("not it")

type failing struct{}

func (failing) ReadAt([]byte, int64) (int, error) { return 0, errors.New("EIO") }

func TestRead(t *testing.T) {
	dev := bytes.NewReader(make([]byte, 100))
	buf := make([]byte, 10)
	if err := Read(dev, buf, 90, errNot, "x"); err != nil {
		t.Errorf("span ending at the device's end: %v", err)
	}
	err := Read(dev, buf, 95, errNot, "x")
	if !errors.Is(err, errNot) || !strings.Contains(err.Error(), "byte 105") {
		t.Errorf("short device: %v, want %v naming byte 105", err, errNot)
	}
	err = Read(failing{}, buf, 0, errNot, "ext4")
	if err == nil || errors.Is(err, errNot) || !strings.Contains(err.Error(), "ext4 superblock") {
		t.Errorf("read error: %v, want an I/O error naming the ext4 superblock", err)
	}
}

func TestCStringUUID(t *testing.T) {
	if got := CString([]byte("homestaker\x00\x00junk")); got != "homestaker" {
		t.Errorf("CString = %q", got)
	}
	if got := CString([]byte("full")); got != "full" {
		t.Errorf("CString without NUL = %q", got)
	}
	u := [16]byte{0xde, 0xad, 0xbe, 0xef, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}
	if got, want := UUID(u), "deadbeef-0102-0304-0506-0708090a0b0c"; got != want {
		t.Errorf("UUID = %q, want %q", got, want)
	}
}
