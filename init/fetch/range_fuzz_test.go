package fetch

import (
	"fmt"
	"testing"
)

// FuzzParseContentRange: a resumed download trusts the server's
// Content-Range to say where the bytes go. Whatever it accepts is a range
// that starts inside the file, and it reads back what it would write.
func FuzzParseContentRange(f *testing.F) {
	for _, s := range []string{"bytes 0-99/100", "bytes 100-199/*", "bytes 5-4/10", "bytes -1-3/4", "bytes 0-9/9", "bytes 9223372036854775806-9223372036854775806/9223372036854775807", "bits 0-1/2", "bytes 0-1/+2"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		start, total, err := parseContentRange(s)
		if err != nil {
			return
		}
		if start < 0 || total != -1 && total <= start {
			t.Fatalf("%q: start %d, total %d", s, start, total)
		}
		// What was accepted is also what a well-formed header says.
		var end int64
		if _, err := fmt.Sscanf(s, "bytes %d-%d/", &start, &end); err != nil {
			t.Fatalf("%q accepted but not of the form bytes START-END/TOTAL", s)
		}
	})
}
