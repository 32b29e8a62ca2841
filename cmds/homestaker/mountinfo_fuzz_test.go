package main

import (
	"os"
	"strings"
	"testing"
)

// FuzzParseMountinfo: prepare refuses a mounted device by what
// /proc/self/mountinfo says; a mount point with spaces or newlines
// (escaped by the kernel as \040 and \012) must come back as the path it
// is, and every entry names its device.
func FuzzParseMountinfo(f *testing.F) {
	if b, err := os.ReadFile("/proc/self/mountinfo"); err == nil {
		f.Add(string(b))
	}
	f.Add(`36 35 98:0 /mnt1 /mnt/with\040space rw,noatime master:1 - ext3 /dev/root rw,errors=continue` + "\n")
	f.Add(`1 2 3:4 / /a\012b rw - btrfs /dev/loop\1340 rw` + "\n")
	f.Add("short line\n- - -\n")
	f.Fuzz(func(t *testing.T, text string) {
		for _, m := range parseMountinfo(text) {
			if m.Dev == "" || m.MountPoint == "" || m.FSType == "" || m.Source == "" {
				t.Fatalf("an entry with an empty field: %+v from %q", m, text)
			}
			if strings.Contains(m.Dev, " ") {
				t.Fatalf("device %q", m.Dev)
			}
		}
		if got := unescapeMount(escapeMount(text)); got != text {
			t.Fatalf("unescape(escape(%q)) = %q", text, got)
		}
	})
}

// escapeMount is what the kernel does to a path in mountinfo (show_path:
// space, tab, newline and backslash as \ooo).
func escapeMount(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case ' ', '\t', '\n', '\\':
			b.WriteString(`\` + string(rune('0'+c>>6)) + string(rune('0'+c>>3&7)) + string(rune('0'+c&7)))
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}
