package hostname

import (
	"strings"
	"testing"
)

// TestRules shows the three rules side by side on the names where they
// part: '_', empty labels, edge hyphens, "." and the lengths.
func TestRules(t *testing.T) {
	label63 := strings.Repeat("a", 63)
	for _, c := range []struct {
		name           string
		kernel, search bool // CheckKernel == "", IsSearchDomain
		dns            bool
	}{
		{"", true, false, false},
		{".", true, false, false},
		{"..", true, true, false},
		{"box", true, true, true},
		{"box.", true, true, true},
		{"box..", true, true, false},
		{"staker-1.home.arpa", true, true, true},
		{"a_b", true, true, false},
		{"a..b", true, true, false},
		{"-a", true, true, false},
		{"a-", true, true, false},
		{"10.1", true, true, true},
		{"a b", false, false, false},
		{"bad\nnameserver", false, false, false},
		{"(none)", false, false, false},
		{"héte", false, false, false},
		{strings.Repeat("a", 64), true, true, false},
		{strings.Repeat("a", 65), false, true, false},
		{label63 + "." + label63, false, true, true},
		{strings.Repeat(label63+".", 3) + strings.Repeat("a", 61), false, true, true}, // 253
		{strings.Repeat(label63+".", 3) + strings.Repeat("a", 61) + ".", false, true, true},
		{strings.Repeat(label63+".", 3) + strings.Repeat("a", 62), false, false, false}, // 254
	} {
		if got := CheckKernel(c.name) == ""; got != c.kernel {
			t.Errorf("CheckKernel(%q) passes: %v, want %v", c.name, got, c.kernel)
		}
		if got := IsSearchDomain(c.name); got != c.search {
			t.Errorf("IsSearchDomain(%q) = %v, want %v", c.name, got, c.search)
		}
		if got := IsDNSName(c.name); got != c.dns {
			t.Errorf("IsDNSName(%q) = %v, want %v", c.name, got, c.dns)
		}
	}
}

func TestCheckKernelReasons(t *testing.T) {
	if r := CheckKernel(strings.Repeat("a", 65)); r != "is longer than 64 bytes" {
		t.Errorf("65 bytes: %q", r)
	}
	if r := CheckKernel("a;b"); r != "may hold only letters, digits, '-', '.' and '_'" {
		t.Errorf("a;b: %q", r)
	}
}
