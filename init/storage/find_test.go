package storage

import (
	"context"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/homestaker/homestaker-boot/init/btrfs"
)

// superblockImage is a device image holding a primary Btrfs superblock
// (crc32c) for member devid of num with the label.
func superblockImage(label string, devid, num uint64) []byte {
	img := make([]byte, btrfs.SuperblockOffset+btrfs.SuperblockSize)
	b := img[btrfs.SuperblockOffset:]
	le := binary.LittleEndian
	b[0x20] = 0x42                                 // fsid
	le.PutUint64(b[0x30:], btrfs.SuperblockOffset) // bytenr
	copy(b[0x40:], "_BHRfS_M")
	le.PutUint64(b[0x88:], num)
	le.PutUint64(b[0xc9:], devid)
	copy(b[0x12b:], label)
	le.PutUint32(b[0:], crc32.Checksum(b[0x20:], crc32.MakeTable(crc32.Castagnoli)))
	return img
}

// blockDevs is a fake /sys/class/block and /dev.
type blockDevs struct{ sys, dev string }

func newBlockDevs(t *testing.T) blockDevs {
	return blockDevs{sys: t.TempDir(), dev: t.TempDir()}
}

func (d blockDevs) add(t *testing.T, name string, img []byte) {
	t.Helper()
	// Whole, as a disk appears: a concurrent Scan never reads half of it.
	tmp := filepath.Join(d.dev, name+".new")
	if err := os.WriteFile(tmp, img, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, filepath.Join(d.dev, name)); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(d.sys, name), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(d.sys, name, "size"), []byte(fmt.Sprintf("%d\n", len(img)/512)), 0o644); err != nil {
		t.Fatal(err)
	}
}

// lines collects what Find tells.
type lines struct {
	mu sync.Mutex
	l  []string
}

func (l *lines) add(format string, args ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.l = append(l.l, fmt.Sprintf(format, args...))
}

func (l *lines) get() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.l...)
}

func TestFindWaitingLine(t *testing.T) {
	t.Run("found at once: no line", func(t *testing.T) {
		d := newBlockDevs(t)
		d.add(t, "vda", superblockImage("homestaker", 1, 1))
		var told lines
		fs, _, _, err := Find(context.Background(), Options{Label: "homestaker", SysBlock: d.sys, DevDir: d.dev}, testRec{t, &told})
		if err != nil || fs == nil {
			t.Fatalf("Find: %v, %v", fs, err)
		}
		if got := told.get(); len(got) != 0 {
			t.Errorf("told %q; want nothing when the first look finds the volume", got)
		}
	})
	t.Run("late disk: one line, then found", func(t *testing.T) {
		d := newBlockDevs(t)
		d.add(t, "vda", make([]byte, 1<<20)) // not Btrfs
		var told lines
		done := make(chan error, 1)
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		go func() {
			_, _, _, err := Find(ctx, Options{Label: "homestaker", SysBlock: d.sys, DevDir: d.dev, Poll: time.Millisecond}, testRec{t, &told})
			done <- err
		}()
		for len(told.get()) == 0 {
			time.Sleep(time.Millisecond)
		}
		d.add(t, "vdb", superblockImage("homestaker", 1, 1))
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		got := told.get()
		want := `waiting up to 1m0s for a Btrfs, ext4 or xfs filesystem labelled "homestaker" (or "homestakeros") (block devices: ` + d.dev + `/vda)`
		if len(got) != 1 || got[0] != want {
			t.Errorf("told %q; want once %q", got, want)
		}
	})
	t.Run("member missing", func(t *testing.T) {
		d := newBlockDevs(t)
		d.add(t, "vda", superblockImage("homestaker", 1, 2))
		var told lines
		// Hundreds of looks, one line.
		ctx, cancel := context.WithTimeout(context.Background(), 600*time.Millisecond)
		defer cancel()
		fs, _, _, err := Find(ctx, Options{Label: "homestaker", LabelSet: true, SysBlock: d.sys, DevDir: d.dev, Poll: time.Millisecond}, testRec{t, &told})
		if err != nil || fs == nil || fs.Complete() {
			t.Fatalf("Find: %v, %v; want the incomplete filesystem", fs, err)
		}
		want := `waiting up to 1s for the other member devices of Btrfs "homestaker" (1 of 2 found: ` + d.dev + `/vda)`
		if got := told.get(); len(got) != 1 || got[0] != want {
			t.Errorf("told %q; want once %q", got, want)
		}
	})
	t.Run("nothing, no deadline wording without a deadline", func(t *testing.T) {
		d := newBlockDevs(t)
		var told lines
		ctx, cancel := context.WithCancel(context.Background())
		go func() {
			for len(told.get()) == 0 {
				time.Sleep(time.Millisecond)
			}
			cancel()
		}()
		_, _, _, err := Find(ctx, Options{Label: "homestaker", LabelSet: true, SysBlock: d.sys, DevDir: d.dev}, testRec{t, &told})
		if err == nil {
			t.Fatal("Find found a volume on no devices")
		}
		want := `waiting for a Btrfs, ext4 or xfs filesystem labelled "homestaker" (no block devices yet)`
		if got := told.get(); len(got) != 1 || got[0] != want {
			t.Errorf("told %q; want once %q", got, want)
		}
	})
}

// testRec records Printf lines and fails the test on a warning.
type testRec struct {
	t       *testing.T
	printed *lines
}

func (r testRec) Printf(format string, args ...any) { r.printed.add(format, args...) }
func (r testRec) Warn(format string, args ...any)   { r.t.Errorf(format, args...) }
func (r testRec) Fact(string, any)                  {}
func (r testRec) Summary(string, ...any)            {}

// A second filesystem with the label that appears after the first was
// found whole (a USB stick probing after the NVMe disk) is refused, naming
// both, instead of being lost to whichever came first.
func TestFindSettlesForASecondFilesystem(t *testing.T) {
	d := newBlockDevs(t)
	d.add(t, "nvme0n1", superblockImage("homestaker", 1, 1))
	second := superblockImage("homestaker", 1, 1)
	second[btrfs.SuperblockOffset+0x20] = 0x43 // another fsid
	le := binary.LittleEndian
	b := second[btrfs.SuperblockOffset:]
	le.PutUint32(b[0:], crc32.Checksum(b[0x20:], crc32.MakeTable(crc32.Castagnoli)))
	var told lines
	added := false
	o := Options{Label: "homestaker", LabelSet: true, SysBlock: d.sys, DevDir: d.dev, Poll: time.Millisecond, Settle: time.Minute,
		scanned: func(complete bool) {
			if complete && !added {
				added = true // the stick appears once the disk was found
				d.add(t, "sda", second)
			}
		}}
	_, _, _, err := Find(context.Background(), o, testRec{t, &told})
	if err == nil || !strings.Contains(err.Error(), "nvme0n1;") || !strings.Contains(err.Error(), "/sda;") {
		t.Fatalf("Find = %v, want a refusal naming both filesystems", err)
	}

	// Alone, the volume is taken once the settle is over.
	d2 := newBlockDevs(t)
	d2.add(t, "nvme0n1", superblockImage("homestaker", 1, 1))
	start := time.Now()
	fs, _, _, err := Find(context.Background(), Options{Label: "homestaker", LabelSet: true, SysBlock: d2.sys, DevDir: d2.dev, Poll: time.Millisecond, Settle: 20 * time.Millisecond}, testRec{t, &told})
	if err != nil || fs == nil || time.Since(start) < 20*time.Millisecond {
		t.Errorf("Find = %v, %v after %s; want the volume after the settle", fs, err, time.Since(start))
	}
}
