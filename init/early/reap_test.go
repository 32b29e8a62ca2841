package early

import "testing"

func TestParseStat(t *testing.T) {
	for _, tc := range []struct {
		in    string
		state byte
		ppid  int
		ok    bool
	}{
		{"42 (sh) Z 1 42 42 0 -1", 'Z', 1, true},
		{"43 (my (odd) name) S 7 43", 'S', 7, true},
		{"44 (x", 0, 0, false},
		{"45 (x) Z", 0, 0, false},
	} {
		state, ppid, ok := parseStat(tc.in)
		if state != tc.state || ppid != tc.ppid || ok != tc.ok {
			t.Errorf("parseStat(%q) = %c %d %v, want %c %d %v", tc.in, state, ppid, ok, tc.state, tc.ppid, tc.ok)
		}
	}
}
