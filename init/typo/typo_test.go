package typo

import "testing"

func TestDistance(t *testing.T) {
	for _, c := range []struct {
		a, b  string
		limit int
		want  int
	}{
		{"disk", "disk", 3, 0},
		{"dsik", "disk", 3, 1},    // a swap is one edit
		{"MUT", "MTU", 3, 1},      // likewise
		{"label2", "label", 3, 1}, // an insertion
		{"lable", "label", 3, 1},
		{"prt", "port", 3, 1}, // a deletion
		{"nett", "net", 3, 1},
		{"Wg", "wg", 3, 1}, // case counts
		{"kitten", "sitting", 5, 3},
		{"ca", "abc", 5, 3}, // optimal string alignment: no edit of a swapped pair
		{"", "abc", 5, 3},
		{"abc", "", 5, 3},
		{"", "", 1, 0},
		// At or beyond limit: limit.
		{"kitten", "sitting", 3, 3},
		{"kitten", "sitting", 2, 2},
		{"a", "abcdef", 3, 3},
		{"homestaker.foo", "homestaker.label", 3, 3},
	} {
		if got := Distance(c.a, c.b, c.limit); got != c.want {
			t.Errorf("Distance(%q, %q, %d) = %d, want %d", c.a, c.b, c.limit, got, c.want)
		}
		if got := Distance(c.b, c.a, c.limit); got != c.want {
			t.Errorf("Distance(%q, %q, %d) = %d, want %d (symmetry)", c.b, c.a, c.limit, got, c.want)
		}
	}
}
