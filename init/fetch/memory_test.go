package fetch

import (
	"strings"
	"testing"
)

const meminfo = `MemTotal:       16310364 kB
MemFree:          812344 kB
MemAvailable:    9436172 kB
Buffers:          401536 kB
Cached:          8204784 kB
HugePages_Total:       0
`

func TestMemAvailable(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, in string
		want     int64
		err      string
	}{
		{"real", meminfo, 9436172 * 1024, ""},
		{"first line, no newline", "MemAvailable: 1 kB", 1024, ""},
		{"tabs", "MemAvailable:\t\t2048\tkB\n", 2 << 20, ""},
		{"zero", "MemAvailable: 0 kB\n", 0, ""},
		{"absent (kernel before 3.14)", "MemTotal: 1 kB\nMemFree: 1 kB\n", 0, "no MemAvailable line"},
		{"empty", "", 0, "no MemAvailable line"},
		{"not at line start", "XMemAvailable: 5 kB\n", 0, "no MemAvailable line"},
		{"no unit", "MemAvailable: 5\n", 0, "expected NUMBER kB"},
		{"other unit", "MemAvailable: 5 MB\n", 0, "expected NUMBER kB"},
		{"extra field", "MemAvailable: 5 kB x\n", 0, "expected NUMBER kB"},
		{"negative", "MemAvailable: -5 kB\n", 0, "not a size in kB"},
		{"not a number", "MemAvailable: 5e3 kB\n", 0, "not a size in kB"},
		{"overflow", "MemAvailable: 9007199254740992 kB\n", 0, "not a size in kB"},
		{"largest", "MemAvailable: 9007199254740991 kB\n", 9007199254740991 * 1024, ""},
	} {
		got, err := MemAvailable([]byte(tc.in))
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%s: got %d, %v; want an error containing %q", tc.name, got, err, tc.err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("%s: got %d, %v; want %d", tc.name, got, err, tc.want)
		}
	}
}

func TestFits(t *testing.T) {
	t.Parallel()
	const (
		MiB = int64(1) << 20
		GiB = int64(1) << 30
	)
	for _, tc := range []struct {
		size, avail int64
		err         string
	}{
		{-1, 0, ""},       // unknown: checked as it arrives
		{0, 64 * MiB, ""}, // the reserve alone
		{0, 64*MiB - 1, "0 B (0 bytes) does not fit in memory: 64.0 MiB available, of which 64.0 MiB must stay free"},
		{1 * GiB, 1*GiB + 64*MiB + GiB/20, ""},
		{1 * GiB, 1*GiB + 64*MiB + GiB/20 - 1, "1.0 GiB (1073741824 bytes) does not fit in memory: 1.1 GiB available, of which 115.2 MiB must stay free"},
		{4 * GiB, 3 * GiB, "4.0 GiB (4294967296 bytes) does not fit in memory: 3.0 GiB available, of which 268.8 MiB must stay free"},
		{100 * MiB, -1, "does not fit in memory: 0 B available"},
		{1<<63 - 1, 1<<63 - 1, "8.0 EiB"},
	} {
		err := Fits(tc.size, tc.avail)
		if tc.err == "" {
			if err != nil {
				t.Errorf("Fits(%d, %d) = %v", tc.size, tc.avail, err)
			}
		} else if err == nil || !strings.Contains(err.Error(), tc.err) {
			t.Errorf("Fits(%d, %d) = %v, want %q", tc.size, tc.avail, err, tc.err)
		}
	}
}

func TestThisMachinesMeminfo(t *testing.T) {
	t.Parallel()
	n, err := readMemAvailable()
	if err != nil || n <= 0 {
		t.Fatalf("readMemAvailable = %d, %v", n, err)
	}
	if free, err := statfsAvailable(t.TempDir()); err != nil || free == 0 {
		t.Fatalf("statfsAvailable = %d, %v", free, err)
	}
}
