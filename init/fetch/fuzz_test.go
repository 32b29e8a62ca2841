package fetch

import (
	"bytes"
	"math/big"
	"strings"
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
		// What the check does with it, without overflow: the reserve
		// never fits beside a download of all that is available, and half
		// of it fits when 64 MiB and 5% of the half are left.
		if Fits(n, n) == nil {
			t.Fatalf("Fits(%d, %d): a download of all the memory fits", n, n)
		}
		half := n / 2
		need := new(big.Int).Add(big.NewInt(half), big.NewInt(memReserve+half/20))
		if fits := need.Cmp(big.NewInt(n)) <= 0; (Fits(half, n) == nil) != fits {
			t.Fatalf("Fits(%d, %d) = %v, want fitting %v", half, n, Fits(half, n), fits)
		}
		if s := formatSize(float64(n)); !strings.HasSuffix(s, "B") {
			t.Fatalf("formatSize(%d) = %q", n, s)
		}
	})
}
