package english

import (
	"fmt"
	"testing"
)

func TestPlural(t *testing.T) {
	for _, c := range []struct {
		n    int
		want string
	}{{0, "0 copies"}, {1, "1 copy"}, {2, "2 copies"}, {-1, "-1 copies"}} {
		if got := fmt.Sprintf("%d %s", c.n, Plural(c.n, "copy", "copies")); got != c.want {
			t.Errorf("%d: %q, want %q", c.n, got, c.want)
		}
	}
}
