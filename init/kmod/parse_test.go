package kmod

import (
	"reflect"
	"strings"
	"testing"
)

func mod(path string, deps ...string) Module {
	name, err := nameFromPath(path)
	if err != nil {
		panic(err)
	}
	m := Module{Name: name, Path: path}
	for _, d := range deps {
		dn, err := nameFromPath(d)
		if err != nil {
			panic(err)
		}
		m.Deps = append(m.Deps, dn)
		m.depPaths = append(m.depPaths, d)
	}
	return m
}

func TestParseDep(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		want     []Module
		wantErr  string
	}{
		{
			name: "no dependencies, no trailing space",
			in:   "kernel/lib/libcrc32c.ko.xz:\n",
			want: []Module{mod("kernel/lib/libcrc32c.ko.xz")},
		},
		{
			name: "dependencies, dashes folded",
			in:   "kernel/drivers/usb/storage/usb-storage.ko.zst: kernel/drivers/scsi/scsi_mod.ko.zst kernel/drivers/usb/core/usbcore.ko.zst\n",
			want: []Module{mod("kernel/drivers/usb/storage/usb-storage.ko.zst",
				"kernel/drivers/scsi/scsi_mod.ko.zst", "kernel/drivers/usb/core/usbcore.ko.zst")},
		},
		{
			name: "comments, blank lines, trailing space, CRLF, no final newline",
			in:   "# made by hand\n\n  kernel/a.ko: kernel/b.ko.gz  \r\n\t\nkernel/b.ko.gz:",
			want: []Module{mod("kernel/a.ko", "kernel/b.ko.gz"), mod("kernel/b.ko.gz")},
		},
		{name: "empty", in: "", want: nil},
		{name: "no colon", in: "kernel/a.ko\n", wantErr: "line 1: \"kernel/a.ko\" has no ':'"},
		{name: "not a module", in: "\nkernel/a.o:\n", wantErr: "line 2: \"kernel/a.o\" is not a module file"},
		{name: "bad dependency", in: "kernel/a.ko: b.txt\n", wantErr: "dependency of a: \"b.txt\" is not a module file"},
		{name: "empty name", in: "kernel/.ko:\n", wantErr: "not a module file"},
		{name: "space in path", in: "kernel/a b.ko:\n", wantErr: "contains white space"},
		{name: "listed twice", in: "kernel/a-b.ko:\nother/a_b.ko.xz:\n", wantErr: "line 2: module a_b listed twice (kernel/a-b.ko and other/a_b.ko.xz)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseDep(strings.NewReader(tc.in))
			checkErr(t, err, tc.wantErr)
			if tc.wantErr == "" && !reflect.DeepEqual(got, tc.want) {
				t.Errorf("ParseDep = %#v, want %#v", got, tc.want)
			}
		})
	}
}

func TestParseSoftdep(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		want     []Softdep
		wantErr  string
	}{
		{
			name: "pre only",
			in:   "# Soft dependencies extracted from modules themselves.\nsoftdep btrfs pre: blake2b-256 crypto-crc32c\n",
			want: []Softdep{{Module: "btrfs", Pre: []string{"blake2b-256", "crypto-crc32c"}}},
		},
		{
			name: "post only",
			in:   "softdep ipmi_msghandler post: ipmi_devintf\n",
			want: []Softdep{{Module: "ipmi_msghandler", Post: []string{"ipmi_devintf"}}},
		},
		{
			name: "post before pre, repeated keyword, module name folded",
			in:   "softdep snd-x post: c pre: a pre: b\n",
			want: []Softdep{{Module: "snd_x", Pre: []string{"a", "b"}, Post: []string{"c"}}},
		},
		{
			name: "names before pre: are ignored, as modprobe does",
			in:   "softdep cifs gcm\nsoftdep vfio x post: vfio_iommu_type1 vfio_iommu_spapr_tce\n",
			want: []Softdep{{Module: "cifs"}, {Module: "vfio", Post: []string{"vfio_iommu_type1", "vfio_iommu_spapr_tce"}}},
		},
		{
			name: "alias names kept as written",
			in:   "softdep pcengines_apuv2 pre: platform:gpio_amd_fch platform:leds-gpio\n",
			want: []Softdep{{Module: "pcengines_apuv2", Pre: []string{"platform:gpio_amd_fch", "platform:leds-gpio"}}},
		},
		{name: "other keyword", in: "options btrfs x=1\n", wantErr: "line 1: \"options btrfs x=1\": want \"softdep"},
		{name: "no module", in: "softdep\n", wantErr: "softdep without a module name"},
		{name: "keyword as module", in: "softdep pre: a\n", wantErr: "softdep without a module name"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseSoftdep(strings.NewReader(tc.in))
			checkErr(t, err, tc.wantErr)
			if tc.wantErr == "" && !reflect.DeepEqual(got, tc.want) {
				t.Errorf("ParseSoftdep = %#v, want %#v", got, tc.want)
			}
		})
	}
}

func TestParseAlias(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		want     []Alias
		wantErr  string
	}{
		{
			name: "exact and glob",
			in:   "# Aliases extracted from modules themselves.\nalias crc32c crc32c_generic\nalias fs-btrfs btrfs\nalias pci:v00001AF4d00001000sv*sd*bc*sc*i* virtio_net\n",
			want: []Alias{
				{Pattern: "crc32c", Module: "crc32c_generic"},
				{Pattern: "fs-btrfs", Module: "btrfs"},
				{Pattern: "pci:v00001AF4d00001000sv*sd*bc*sc*i*", Module: "virtio_net"},
			},
		},
		{name: "module name folded", in: "alias crc32c crc32c-intel\n", want: []Alias{{Pattern: "crc32c", Module: "crc32c_intel"}}},
		{name: "missing module", in: "alias crc32c\n", wantErr: "want \"alias PATTERN MODULE\""},
		{name: "extra field", in: "alias a b c\n", wantErr: "want \"alias PATTERN MODULE\""},
		{name: "other keyword", in: "blacklist a b\n", wantErr: "line 1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseAlias(strings.NewReader(tc.in))
			checkErr(t, err, tc.wantErr)
			if tc.wantErr == "" && !reflect.DeepEqual(got, tc.want) {
				t.Errorf("ParseAlias = %#v, want %#v", got, tc.want)
			}
		})
	}
}

func TestParseBuiltin(t *testing.T) {
	got, err := ParseBuiltin(strings.NewReader("kernel/crypto/sha256_generic.ko\n\n# x\nkernel/lib/crc32.ko\n"))
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"kernel/crypto/sha256_generic.ko", "kernel/lib/crc32.ko"}; !reflect.DeepEqual(got, want) {
		t.Errorf("ParseBuiltin = %q, want %q", got, want)
	}
	_, err = ParseBuiltin(strings.NewReader("kernel/a.ko kernel/b.ko\n"))
	checkErr(t, err, "line 1: \"kernel/a.ko kernel/b.ko\": want one module path")
}

func TestFormatDepNoTrailingSpace(t *testing.T) {
	var b strings.Builder
	if err := formatDep(&b, []Module{mod("kernel/a.ko.xz", "kernel/b.ko.xz"), mod("kernel/b.ko.xz")}); err != nil {
		t.Fatal(err)
	}
	if want := "kernel/a.ko.xz: kernel/b.ko.xz\nkernel/b.ko.xz:\n"; b.String() != want {
		t.Errorf("formatDep = %q, want %q", b.String(), want)
	}
}

func checkErr(t *testing.T, err error, want string) {
	t.Helper()
	switch {
	case want == "" && err != nil:
		t.Fatalf("unexpected error: %v", err)
	case want != "" && err == nil:
		t.Fatalf("no error, want one containing %q", want)
	case want != "" && !strings.Contains(err.Error(), want):
		t.Fatalf("error %q does not contain %q", err, want)
	}
}
