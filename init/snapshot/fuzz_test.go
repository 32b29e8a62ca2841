package snapshot

import "testing"

// A set name that parses formats back to itself: a directory under
// snapshots/ is a set only when its name says exactly what it is.
func FuzzParseName(f *testing.F) {
	f.Add("20261202T100500Z-before-current-0123456789ab")
	f.Add("20261202T100500Z-manual")
	f.Add("20261202T100500Z-failed-previous-unknown")
	f.Fuzz(func(t *testing.T, name string) {
		s, err := ParseName(name)
		if err != nil {
			return
		}
		if s.Kind == Manual {
			if got := FormatName(s.Time, Manual, "", ""); got != name {
				t.Errorf("ParseName(%q) formats back as %q", name, got)
			}
			return
		}
		if s.Kind != Before && s.Kind != Failed || s.Tree == "" || s.Short == "" {
			t.Errorf("ParseName(%q) = %+v", name, s)
		}
	})
}

func FuzzParseManifest(f *testing.F) {
	f.Add([]byte(`{"reason":"before-current","subvolumes":["erigon"]}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := ParseManifest(b)
		if err != nil {
			return
		}
		for _, n := range m.Subvolumes {
			if n == "" || n == "." || n == ".." {
				t.Errorf("accepted subvolume %q", n)
			}
			for _, c := range n {
				if c == '/' {
					t.Errorf("accepted subvolume %q", n)
				}
			}
		}
	})
}
