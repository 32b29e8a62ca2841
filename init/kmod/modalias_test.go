package kmod

import (
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestMatchGlob(t *testing.T) {
	for _, tc := range []struct {
		pattern, s string
		want       bool
	}{
		{"", "", true},
		{"", "a", false},
		{"abc", "abc", true},
		{"abc", "abd", false},
		{"abc", "ab", false},
		{"*", "", true},
		{"*", "anything/at:all", true},
		{"a*", "a", true},
		{"a*c", "abbbc", true},
		{"a*c", "abbbcd", false},
		{"*c*c", "acbcc", true},
		{"**x", "yyx", true},
		{"?", "", false},
		{"?", "/", true},
		{"a?c", "abc", true},
		{"a?c", "ac", false},
		{"a/*", "a/b/c", true}, // '/' is ordinary: path.Match says no
		{"*/c", "a/b/c", true},
		{"devname:net/tun", "devname:net/tun", true},
		{"d0[0-2]*", "d01x", true},
		{"d0[0-2]*", "d03x", false},
		{"[0-9A-F]", "B", true},
		{"[0-9A-F]", "b", false},
		{"[abc]", "c", true},
		{"[!a]", "a", false},
		{"[!a]", "b", true},
		{"[^a]", "b", true},
		{"[!a]", "", false},
		{"[]a]", "]", true},
		{"[!]a]", "]", false},
		{"[!]a]", "b", true},
		{"[a-]", "-", true},
		{"[a-]", "b", false},
		{"[z-a]", "m", false},
		{"[\\]]", "]", true},
		{"[A-\\]]", "Z", true},
		{"[A-\\]]", "]", true},
		{"[A-\\]]", "^", false},
		{"[", "[", true}, // no ']': a literal '['
		{"a[b", "a[b", true},
		{"a[b", "ab", false},
		{"\\*", "*", true},
		{"\\*", "a", false},
		{"\\?x", "?x", true},
		{"\\[a]", "[a]", true},
		{"\\[a]", "a", false},
		{"a\\", "a\\", true}, // a trailing '\' stands for itself
		{"a*\\*", "abc*", true},
		{"a*\\*", "abc", false},
		{"pci:v00008086d*sv*sd*bc*sc*i*", "pci:v00008086d0000100Esv00001AF4sd00001100bc02sc00i00", true},
		{"pci:v00008086d*sv*sd*bc*sc*i*", "pci:v00001AF4d0000100Esv00001AF4sd00001100bc02sc00i00", false},
		{"usb:v13FDp3940d0[0-2]*dc*dsc*dp*ic*isc*ip*in*", "usb:v13FDp3940d0100dc00dsc00dp00ic08isc06ip50in00", true},
		{"cpu:type:x86,ven*fam*mod*:feature:*0094*", "cpu:type:x86,ven0000fam0006mod003F:feature:,0000,0001,0094,00E5,", true},
		{"cpu:type:x86,ven*fam*mod*:feature:*0094*", "cpu:type:x86,ven0000fam0006mod003F:feature:,0000,0001,0095,", false},
	} {
		if got := matchGlob(tc.pattern, tc.s); got != tc.want {
			t.Errorf("matchGlob(%q, %q) = %v, want %v", tc.pattern, tc.s, got, tc.want)
		}
	}
}

// A pathological pattern stays linear in the stars, not exponential.
func TestMatchGlobManyStars(t *testing.T) {
	if matchGlob(strings.Repeat("a*", 40)+"b", strings.Repeat("a", 200)) {
		t.Error("matched without a b")
	}
}

// FuzzMatchGlob checks matchGlob against path.Match where they agree:
// ASCII (path.Match reads runes, fnmatch here bytes: modaliases are
// ASCII), patterns path.Match accepts, without '/' (a separator to it), '!'
// (a literal inside [...] to it) or '\' in sets (glibc and Go read "[\]"
// apart).
func FuzzMatchGlob(f *testing.F) {
	f.Add("pci:v*d*sv*sd*bc0Csc03i30*", "pci:v00001B36d0000000Dsv00001AF4sd00001100bc0Csc03i30")
	f.Add("a[^b-d]?*e", "axyze")
	f.Add("\\*[]x]", "*]")
	f.Fuzz(func(t *testing.T, pattern, s string) {
		got := matchGlob(pattern, s)
		if strings.ContainsAny(pattern+s, "/!") || strings.Contains(pattern, "[") && strings.Contains(pattern, "\\") ||
			strings.ContainsFunc(pattern+s, func(r rune) bool { return r >= utf8.RuneSelf }) {
			return
		}
		want, err := path.Match(pattern, s)
		if err == nil && got != want {
			t.Errorf("matchGlob(%q, %q) = %v, path.Match says %v", pattern, s, got, want)
		}
	})
}

func TestFoldAlias(t *testing.T) {
	for in, want := range map[string]string{
		"platform:reg-dummy":       "platform:reg_dummy",
		"usb:v*p*d0[0-2]*dc*-x":    "usb:v*p*d0[0-2]*dc*_x",
		"of:N*T*Csnps,dw-apb-uart": "of:N*T*Csnps,dw_apb_uart",
		"pci:v00001AF4d*":          "pci:v00001AF4d*",
	} {
		if got := foldAlias(in); got != want {
			t.Errorf("foldAlias(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestMatchModalias(t *testing.T) {
	ix := coldplugIndex(t)
	aliases := ix.deviceAliases()
	for _, tc := range []struct {
		modalias string
		want     []string
	}{
		{"pci:v00001AF4d00001000sv00001AF4sd00000001bc02sc00i00", []string{"virtio_pci"}},
		{"pci:v00008086d0000100Esv00001AF4sd00001100bc02sc00i00", nil}, // e1000 is not carried
		{"acpi:PNP0C0C:", nil}, // button is built in
		{"virtio:d00000001v00001AF4", []string{"virtio_net"}},
		{"platform:reg-dummy", []string{"reg_dummy"}},
		{"platform:reg_dummy", []string{"reg_dummy"}},
		{"usb:v0781p5581d0100dc00dsc00dp00ic08isc06ip50in00", []string{"usb_storage"}},
		{"cpu:type:x86,ven0000fam0006mod003F:feature:,0000,0001,0094,", []string{"crc32c_intel"}},
		{"devname:net/tun", []string{"tun"}},
	} {
		if got := matchModalias(aliases, tc.modalias); !slices.Equal(got, tc.want) {
			t.Errorf("%s: %q, want %q", tc.modalias, got, tc.want)
		}
	}
}

func TestModaliases(t *testing.T) {
	root := writeFiles(t, map[string]string{
		"devices/pci0000:00/0000:00:02.0/modalias":            "pci:v00001AF4d00001000sv00001AF4sd00000001bc02sc00i00\n",
		"devices/pci0000:00/0000:00:02.0/virtio0/modalias":    "virtio:d00000001v00001AF4\n",
		"devices/pci0000:00/0000:00:03.0/modalias":            "pci:v00001AF4d00001000sv00001AF4sd00000001bc02sc00i00\n",
		"devices/pci0000:00/0000:00:03.0/vendor":              "0x1af4\n",
		"devices/system/cpu/modalias":                         "cpu:type:x86,ven0000fam0006mod003F:feature:,0000\n",
		"devices/platform/empty/modalias":                     "\n",
		"devices/platform/modalias/not-a-file/modalias.other": "x",
		"bus/virtio/devices/elsewhere/modalias":               "not:under:devices\n",
	})
	devices := filepath.Join(root, "devices")
	// /sys/bus and /sys/class link into /sys/devices; walking must not
	// follow links, to a directory or to a modalias file.
	if err := os.Symlink(filepath.Join(root, "bus"), filepath.Join(devices, "pci0000:00", "subsystem")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(root, "bus/virtio/devices/elsewhere/modalias"), filepath.Join(devices, "platform", "empty", "modalias.link")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(root, "bus/virtio/devices/elsewhere/modalias"), filepath.Join(devices, "system", "modalias")); err != nil {
		t.Fatal(err)
	}
	got, err := modaliases(devices)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"cpu:type:x86,ven0000fam0006mod003F:feature:,0000",
		"pci:v00001AF4d00001000sv00001AF4sd00000001bc02sc00i00",
		"virtio:d00000001v00001AF4",
	}
	if !slices.Equal(got, want) {
		t.Errorf("modaliases: %q\nwant %q", got, want)
	}

	if os.Geteuid() != 0 { // root reads anything
		locked := filepath.Join(devices, "system", "cpu")
		if err := os.Chmod(locked, 0); err != nil {
			t.Fatal(err)
		}
		defer os.Chmod(locked, 0o755)
		got, err := modaliases(devices)
		if err != nil || len(got) != 2 {
			t.Errorf("with an unreadable directory: %q, %v; want the other 2", got, err)
		}
	}

	_, err = modaliases(filepath.Join(root, "nosuch"))
	checkErr(t, err, "no such file or directory")
}
