package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"unicode"
)

// What util-linux 2.38.1 (Debian 12) prints for wipefs --no-act --json
// --output TYPE,OFFSET,UUID,LABEL,USAGE, on images made with the tools.
const (
	wipefsEmpty = `{
   "signatures": [
   ]
}`
	wipefsBtrfs = `{
   "signatures": [
      {
         "type": "btrfs",
         "offset": "0x10040",
         "uuid": "7fa10f73-75ea-4767-87f4-1ad9ca0fb42b",
         "label": "homestaker",
         "usage": "filesystem"
      }
   ]
}`
	wipefsLUKS2 = `{"signatures": [
      {"type": "crypto_LUKS", "offset": "0x0", "uuid": "48326785-3c13-418f-8a34-abdd70a894f8", "label": null, "usage": "crypto"},
      {"type": "crypto_LUKS", "offset": "0x4000", "uuid": "48326785-3c13-418f-8a34-abdd70a894f8", "label": null, "usage": "crypto"}]}`
	wipefsFAT16 = `{"signatures": [
      {"type": "vfat", "offset": "0x36", "uuid": "DE4E-3A74", "label": "ESP", "usage": "filesystem"},
      {"type": "vfat", "offset": "0x0", "uuid": "DE4E-3A74", "label": "ESP", "usage": "filesystem"},
      {"type": "vfat", "offset": "0x1fe", "uuid": "DE4E-3A74", "label": "ESP", "usage": "filesystem"}]}`
	wipefsMD10 = `{"signatures": [
      {"type": "btrfs", "offset": "0x10040", "uuid": "00bd2be0-992f-4bbb-8d49-e823f85b9aab", "label": "homestaker", "usage": "filesystem"},
      {"type": "linux_raid_member", "offset": "0xfffe000", "uuid": "7365742d-7575-6964-2d6f-662d74657374", "label": "node:0", "usage": "raid"}]}`
	wipefsPMBR = `{"signatures": [{"type": "PMBR", "offset": "0x1fe", "uuid": null, "label": null, "usage": "partition-table"}]}`
)

func TestParseWipefs(t *testing.T) {
	for _, tc := range []struct {
		name, out string
		want      []Signature
		err       string
	}{
		{"nothing", wipefsEmpty, nil, ""},
		{"btrfs", wipefsBtrfs, []Signature{{Kind: "btrfs", Offset: 0x10040, UUID: "7fa10f73-75ea-4767-87f4-1ad9ca0fb42b", Label: "homestaker", Detail: "filesystem"}}, ""},
		{"LUKS2, two headers", wipefsLUKS2, []Signature{
			{Kind: "crypto_LUKS", Offset: 0, UUID: "48326785-3c13-418f-8a34-abdd70a894f8", Detail: "crypto"},
			{Kind: "crypto_LUKS", Offset: 0x4000, UUID: "48326785-3c13-418f-8a34-abdd70a894f8", Detail: "crypto"}}, ""},
		{"md 1.0 under a Btrfs", wipefsMD10, []Signature{
			{Kind: "btrfs", Offset: 0x10040, UUID: "00bd2be0-992f-4bbb-8d49-e823f85b9aab", Label: "homestaker", Detail: "filesystem"},
			{Kind: "linux_raid_member", Offset: 0xfffe000, UUID: "7365742d-7575-6964-2d6f-662d74657374", Label: "node:0", Detail: "raid"}}, ""},
		{"columns missing", `{"signatures": [{"type": "swap", "offset": "0xff6"}]}`, []Signature{{Kind: "swap", Offset: 0xff6}}, ""},
		{"no output", "", nil, "JSON"},
		{"table, not JSON", "DEVICE OFFSET TYPE UUID LABEL\nsda 0x1fe PMBR", nil, "JSON"},
		{"other JSON", `{"blockdevices": []}`, nil, `no "signatures"`},
		{"null list", `{"signatures": null}`, nil, `no "signatures"`},
		{"no type", `{"signatures": [{"offset": "0x0"}]}`, nil, "no type"},
		{"decimal offset", `{"signatures": [{"type": "xfs", "offset": "0"}]}`, nil, "offset"},
		{"negative offset", `{"signatures": [{"type": "xfs", "offset": "0x-1"}]}`, nil, "offset"},
		{"offset too large", `{"signatures": [{"type": "xfs", "offset": "0x8000000000000000"}]}`, nil, "offset"},
		{"offset not a string", `{"signatures": [{"type": "xfs", "offset": 0}]}`, nil, "JSON"},
		{"type with an escape, quoted", `{"signatures": [{"type": "\u001b[2J", "offset": "zz"}]}`, nil, `"\x1b[2J"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseWipefs([]byte(tc.out))
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err = %v, want one saying %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !slices.EqualFunc(got, tc.want, sameSignature) {
				t.Errorf("got %#v\nwant %#v", got, tc.want)
			}
		})
	}
}

// needTool returns the path of a tool the tests need. `make deps`
// installs every one, so a missing tool is a broken setup: the test fails
// naming the Debian package.
func needTool(t *testing.T, tool, pkg string) string {
	t.Helper()
	p, err := exec.LookPath(tool)
	if err != nil {
		t.Fatalf("%s is not installed: `make deps` installs Debian's %s", tool, pkg)
	}
	return p
}

func sameSignature(a, b Signature) bool {
	return a.Kind == b.Kind && a.Offset == b.Offset && a.Label == b.Label && a.UUID == b.UUID &&
		a.Detail == b.Detail && slices.Equal(a.Also, b.Also)
}

func TestMergeSignatures(t *testing.T) {
	parse := func(out string) []Signature {
		sigs, err := parseWipefs([]byte(out))
		if err != nil {
			t.Fatal(err)
		}
		return sigs
	}
	ownBtrfs := Signature{Kind: "btrfs", Offset: 0x10040, Label: "homestaker", UUID: "7fa10f73-75ea-4767-87f4-1ad9ca0fb42b", Detail: "fsid 7fa10f73-75ea-4767-87f4-1ad9ca0fb42b, 1 device(s)"}
	mirror := func(off int64, uuid string) Signature {
		return Signature{Kind: "btrfs", Offset: off, UUID: uuid, Label: "homestaker", Detail: "filesystem"}
	}
	for _, tc := range []struct {
		name       string
		own, seen  []Signature
		want       string // describeSignatures of the merge
		wantVerdit verdict
	}{
		{"both see nothing", nil, nil, "", formatDevice},
		{"both see the volume: the own probe's details stay", []Signature{ownBtrfs}, parse(wipefsBtrfs),
			`btrfs labelled "homestaker" (fsid 7fa10f73-75ea-4767-87f4-1ad9ca0fb42b, 1 device(s)) at byte 65600`, reuseVolume},
		{"superblock mirrors of the volume are the volume", []Signature{ownBtrfs},
			[]Signature{mirror(0x10040, ownBtrfs.UUID), mirror(64<<20+0x40, ownBtrfs.UUID), mirror(256<<30+0x40, ownBtrfs.UUID)},
			`btrfs labelled "homestaker" (fsid 7fa10f73-75ea-4767-87f4-1ad9ca0fb42b, 1 device(s)) at bytes 65600, 67108928 and 274877907008`, reuseVolume},
		{"a mirror of another Btrfs is another signature", []Signature{ownBtrfs},
			[]Signature{mirror(0x10040, ownBtrfs.UUID), mirror(64<<20+0x40, "11111111-2222-3333-4444-555555555555")},
			`btrfs labelled "homestaker" (fsid 7fa10f73-75ea-4767-87f4-1ad9ca0fb42b, 1 device(s)) at byte 65600; btrfs labelled "homestaker" (filesystem) at byte 67108928`, refuseDevice},
		{"md 1.0 at the end of the volume", []Signature{ownBtrfs}, parse(wipefsMD10),
			`btrfs labelled "homestaker" (fsid 7fa10f73-75ea-4767-87f4-1ad9ca0fb42b, 1 device(s)) at byte 65600; linux_raid_member labelled "node:0" (raid) at byte 268427264`, refuseDevice},
		{"only wipefs sees it", nil, parse(wipefsLUKS2), "crypto_LUKS (crypto) at bytes 0 and 16384", refuseDevice},
		{"the own probe's LUKS and its second header", []Signature{{Kind: "crypto_LUKS", Detail: "version 2"}}, parse(wipefsLUKS2),
			"crypto_LUKS (version 2) at bytes 0 and 16384", refuseDevice},
		{"FAT's three magics are one FAT", []Signature{{Kind: "vfat", Offset: 54, Label: "ESP", Detail: "FAT16"}}, parse(wipefsFAT16),
			`vfat labelled "ESP" (FAT16) at bytes 0, 54 and 510`, refuseDevice},
		{"ext3 to the own probe is ext4 to blkid", []Signature{{Kind: "ext3", Offset: 1080}}, []Signature{{Kind: "ext4", Offset: 1080, Label: "data"}},
			`ext3 labelled "data" at byte 1080`, refuseDevice},
		{"a protective MBR is dos to the own probe", []Signature{{Kind: "dos", Offset: 510, Detail: "protective MBR of a GPT disk"}}, parse(wipefsPMBR),
			"dos (protective MBR of a GPT disk) at byte 510", refuseDevice},
		{"the same signature twice in wipefs", nil, []Signature{{Kind: "swap", Offset: 4086}, {Kind: "swap", Offset: 4086}}, "swap at byte 4086", refuseDevice},
		{"only the own probe sees it", []Signature{{Kind: "iso9660", Offset: 32769}}, nil, "iso9660 at byte 32769", refuseDevice},
		{"a kind from the device is quoted", nil, []Signature{{Kind: "x\x1b[2Jy", Offset: 0, Detail: "\u202eevil"}}, `"x\x1b[2Jy" ("\u202eevil") at byte 0`, refuseDevice},
	} {
		t.Run(tc.name, func(t *testing.T) {
			own := slices.Clone(tc.own)
			got := mergeSignatures(tc.own, tc.seen)
			if d := describeSignatures(got); d != tc.want {
				t.Errorf("merged:\n got %s\nwant %s", d, tc.want)
			}
			if v := decide(got, "homestaker", btrfsFS); v != tc.wantVerdit {
				t.Errorf("decide = %d, want %d", v, tc.wantVerdit)
			}
			if !slices.EqualFunc(own, tc.own, sameSignature) {
				t.Error("the own probe's list was changed")
			}
		})
	}
}

// TestWipefsAgreesWithOwnProbe formats images with the real tools and
// checks that wipefs's view and the own probe's make one signature of the
// kind the own probe names: a prepared volume is still the volume, and a
// FAT or LUKS2 is still one signature however many magics it has.
func TestWipefsAgreesWithOwnProbe(t *testing.T) {
	needTool(t, "wipefs", "util-linux")
	for _, tc := range []struct {
		tool, pkg string
		args      []string
		kind      string
		label     string
	}{
		{"mkfs.btrfs", "btrfs-progs", []string{"-q", "-f", "-L", "homestaker"}, "btrfs", "homestaker"},
		{"mkfs.ext4", "e2fsprogs", []string{"-q", "-F", "-L", "data"}, "ext4", "data"},
		{"mkfs.vfat", "dosfstools", []string{"-n", "ESP"}, "vfat", "ESP"},
		{"mkfs.vfat", "dosfstools", []string{"-F", "32"}, "vfat", ""},
		{"mkswap", "util-linux", []string{"-L", "swp"}, "swap", "swp"},
		{"mkfs.xfs", "xfsprogs", []string{"-q", "-f", "-L", "x"}, "xfs", "x"},
		{"cryptsetup", "cryptsetup-bin", []string{"luksFormat", "--batch-mode", "--type", "luks2", "--pbkdf", "pbkdf2", "--pbkdf-force-iterations", "1000"}, "crypto_LUKS", ""},
	} {
		t.Run(tc.tool+" "+strings.Join(tc.args, " "), func(t *testing.T) {
			bin := needTool(t, tc.tool, tc.pkg)
			img := filepath.Join(t.TempDir(), "img")
			if err := os.WriteFile(img, nil, 0o600); err != nil {
				t.Fatal(err)
			}
			if err := os.Truncate(img, 320<<20); err != nil {
				t.Fatal(err)
			}
			cmd := exec.Command(bin, append(tc.args, img)...)
			cmd.Stdin = strings.NewReader("passphrase")
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("%s: %v\n%s", tc.tool, err, out)
			}
			f, err := os.Open(img)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			sigs, blind, err := allSignatures(f, img, "wipefs")
			if err != nil || blind != nil {
				t.Fatal(err, blind)
			}
			if len(sigs) != 1 || sigs[0].Kind != tc.kind || sigs[0].Label != tc.label {
				t.Fatalf("found %s; want one %s labelled %q", describeSignatures(sigs), tc.kind, tc.label)
			}
			want := reuseVolume
			if tc.label != "homestaker" {
				want = refuseDevice
			}
			if v := decide(sigs, "homestaker", btrfsFS); v != want {
				t.Errorf("decide(%s) = %d, want %d", describeSignatures(sigs), v, want)
			}
		})
	}
}

func TestLibblkidSignaturesErrors(t *testing.T) {
	needTool(t, "wipefs", "util-linux")
	if _, err := libblkidSignatures("wipefs", filepath.Join(t.TempDir(), "absent")); err == nil ||
		!strings.Contains(err.Error(), "wipefs --no-act") || !strings.Contains(err.Error(), "No such file") {
		t.Errorf("wipefs of a missing file: %v; want the command and its message", err)
	}
	if _, err := libblkidSignatures("wipefs-not-installed", "/dev/null"); err == nil || !strings.Contains(err.Error(), "install util-linux") {
		t.Errorf("without wipefs: %v; want one naming util-linux", err)
	}
}

func FuzzParseWipefs(f *testing.F) {
	for _, s := range []string{wipefsEmpty, wipefsBtrfs, wipefsLUKS2, wipefsFAT16, wipefsMD10, wipefsPMBR,
		`{"signatures": [{"type": "\u001b", "offset": "0x7fffffffffffffff", "label": "\ud800"}]}`} {
		f.Add([]byte(s))
	}
	own := []Signature{{Kind: "btrfs", Offset: 0x10040, Label: "homestaker", UUID: "7fa10f73-75ea-4767-87f4-1ad9ca0fb42b"}}
	f.Fuzz(func(t *testing.T, b []byte) {
		seen, err := parseWipefs(b)
		if err != nil {
			if seen != nil {
				t.Fatal("signatures with an error")
			}
			return
		}
		for _, s := range seen {
			if s.Kind == "" || s.Offset < 0 {
				t.Fatalf("parsed %#v", s)
			}
		}
		for _, base := range [][]Signature{nil, own} {
			merged := mergeSignatures(base, seen)
			if len(merged) < len(base) || len(merged) > len(base)+len(seen) {
				t.Fatalf("%d and %d signatures merged into %d", len(base), len(seen), len(merged))
			}
			// What wipefs saw is refused unless it is the volume itself.
			if len(seen) > 0 && decide(merged, "homestaker", btrfsFS) == formatDevice {
				t.Fatalf("%s would be formatted", describeSignatures(merged))
			}
			d := describeSignatures(merged)
			for _, r := range d {
				if !unicode.IsPrint(r) {
					t.Fatalf("the message holds %q: %q", r, d)
				}
			}
			if bytes.ContainsAny([]byte(d), "\x1b\r") {
				t.Fatalf("the message holds a control character: %q", d)
			}
		}
	})
}
