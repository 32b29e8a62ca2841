package fetch

import (
	"bytes"
	"testing"
)

func FuzzMemAvailable(f *testing.F) {
	f.Add([]byte(meminfo))
	f.Add([]byte("MemAvailable: 9223372036854775807 kB\n"))
	f.Add([]byte("MemAvailable:\r\n 1 kB"))
	f.Add([]byte("MemAvailable: +1 kB\nMemAvailable: 2 kB\n"))
	f.Fuzz(func(t *testing.T, in []byte) {
		n, err := MemAvailable(in)
		if err != nil {
			if n != 0 {
				t.Fatalf("error %v with %d", err, n)
			}
			return
		}
		if n < 0 || n%1024 != 0 || !bytes.Contains(in, []byte("MemAvailable:")) {
			t.Fatalf("MemAvailable(%q) = %d", in, n)
		}
		// What the check does with it must not panic or overflow.
		Fits(n, n)
		Fits(n/2, n)
		_ = formatSize(float64(n))
	})
}
