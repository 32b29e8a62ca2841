package kexectree

import (
	"bytes"
	"encoding/binary"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
)

// kernelHead is the start of an x86_64 bzImage as Debian's 6.1 kernel has
// it, 16 KiB long, changed by edit. Offsets are written out rather than
// taken from the parser, so that the test states the layout itself.
func kernelHead(edit func(b []byte)) []byte {
	b := make([]byte, 0x4000)
	b[0x1f1] = 27 // setup_sects: 14 KiB of setup code
	binary.LittleEndian.PutUint16(b[0x1fe:], 0xaa55)
	b[0x200], b[0x201] = 0xeb, 0x6a // the header ends at 0x26c
	copy(b[0x202:], "HdrS")
	binary.LittleEndian.PutUint16(b[0x206:], 0x020f)
	b[0x211] = 0x01 // LOADED_HIGH
	binary.LittleEndian.PutUint32(b[0x22c:], 0x7fffffff)
	binary.LittleEndian.PutUint32(b[0x230:], 0x200000)
	b[0x234] = 1
	binary.LittleEndian.PutUint16(b[0x236:], 0x7f)
	binary.LittleEndian.PutUint32(b[0x238:], 2047)
	binary.LittleEndian.PutUint64(b[0x258:], 0x1000000)
	binary.LittleEndian.PutUint32(b[0x260:], 0x3000000)
	if edit != nil {
		edit(b)
	}
	return b
}

func version(v uint16) func(b []byte) {
	return func(b []byte) { binary.LittleEndian.PutUint16(b[0x206:], v) }
}

func xloadflags(f uint16) func(b []byte) {
	return func(b []byte) { binary.LittleEndian.PutUint16(b[0x236:], f) }
}

func alignment(a uint32) func(b []byte) {
	return func(b []byte) { binary.LittleEndian.PutUint32(b[0x230:], a) }
}

func edits(fs ...func(b []byte)) func(b []byte) {
	return func(b []byte) {
		for _, f := range fs {
			f(b)
		}
	}
}

func TestParseBzImage(t *testing.T) {
	b, err := ParseBzImage(kernelHead(nil)[:HeadLen], 0x4000)
	if err != nil {
		t.Fatal(err)
	}
	want := BzImage{
		Size: 0x4000, SetupSize: 28 * 512, Version: 0x020f, LoadFlags: 1, XLoadFlags: 0x7f,
		Relocatable: true, KernelAlign: 0x200000, CmdlineSize: 2047, InitrdMax: 0x7fffffff,
		PrefAddress: 0x1000000, InitSize: 0x3000000, HeaderEnd: 0x26c,
	}
	got := *b
	got.Header = nil
	if !reflect.DeepEqual(got, want) {
		t.Errorf("parsed\n%+v, want\n%+v", got, want)
	}
	if !bytes.Equal(b.Header, kernelHead(nil)[0x1f1:0x26c]) {
		t.Errorf("header % x", b.Header)
	}

	// A field the boot protocol does not define yet is its default, not
	// what the bytes there hold.
	old, err := ParseBzImage(kernelHead(version(0x0204)), 0x4000)
	if err != nil {
		t.Fatal(err)
	}
	if old.CmdlineSize != 255 || old.KernelAlign != 0 || old.Relocatable || old.XLoadFlags != 0 || old.InitSize != 0 || old.PrefAddress != 0 || old.InitrdMax != 0x7fffffff {
		t.Errorf("a 2.04 header: %+v", old)
	}
	if old, _ := ParseBzImage(kernelHead(version(0x0202)), 0x4000); old.InitrdMax != 0x37ffffff {
		t.Errorf("a 2.02 header: initrd_addr_max %#x", old.InitrdMax)
	}
	// setup_sects 0 means 4.
	if b, _ := ParseBzImage(kernelHead(func(b []byte) { b[0x1f1] = 0 }), 0x4000); b.SetupSize != 5*512 {
		t.Errorf("setup_sects 0: setup code of %d bytes", b.SetupSize)
	}
	// A head longer than the file counts only up to the file's end.
	if _, err := ParseBzImage(kernelHead(nil), 0x200); err == nil {
		t.Error("a 512-byte file parsed")
	}
}

// TestLoaders is the rule set: for each field combination, which loader
// can boot the kernel, what each refusal names, and that CheckKernel
// refuses exactly what no loader can boot.
func TestLoaders(t *testing.T) {
	both := []Loader{FileLoad, Load}
	for _, tc := range []struct {
		name string
		edit func(b []byte)
		size int64
		want []Loader
		// what the refusals name: kexec_file_load's, kexec_load's
		fileWhy, loadWhy string
	}{
		{"Debian 6.1", nil, 0, both, "", ""},
		{"protocol 2.12, the first with xloadflags", version(0x020c), 0, both, "", ""},
		{"setup_sects 0", func(b []byte) { b[0x1f1] = 0 }, 0, both, "", ""},
		{"kernel_alignment 4096", alignment(4096), 0, both, "", ""},
		{"protocol 2.11", version(0x020b), 0, nil, "found boot protocol 2.11", "found boot protocol 2.11"},
		{"protocol 2.10", version(0x020a), 0, nil, "found boot protocol 2.10", "found boot protocol 2.10"},
		{"protocol 2.06", version(0x0206), 0, nil, "boot protocol 2.12 or later", "boot protocol 2.12 or later"},
		{"protocol 2.04", version(0x0204), 0, nil, "found boot protocol 2.04", "found boot protocol 2.04"},
		{"32-bit", xloadflags(0), 0, nil, "XLF_KERNEL_64", "XLF_KERNEL_64"},
		{"truncated in the setup code", nil, 28 * 512, nil, "a file of 14336 bytes, where the setup code alone takes 14336", "truncated"},
		{"no LOADED_HIGH (a zImage)", func(b []byte) { b[0x211] = 0 }, 0, []Loader{Load}, "LOADED_HIGH in loadflags", ""},
		{"not loadable above 4 GiB", xloadflags(0x01), 0, []Loader{Load}, "XLF_CAN_BE_LOADED_ABOVE_4G in xloadflags; found xloadflags 0x0001", ""},
		{"not relocatable", func(b []byte) { b[0x234] = 0 }, 0, []Loader{FileLoad}, "", "relocatable_kernel 0"},
		{"kernel_alignment 0", alignment(0), 0, []Loader{FileLoad}, "", "kernel_alignment 0x0"},
		{"kernel_alignment not a power of two", alignment(0x3000), 0, []Loader{FileLoad}, "", "kernel_alignment 0x3000"},
		{"kernel_alignment below a page", alignment(0x800), 0, []Loader{FileLoad}, "", "kernel_alignment 0x800"},
		{"init_size 0", func(b []byte) { binary.LittleEndian.PutUint32(b[0x260:], 0) }, 0, []Loader{FileLoad}, "", "init_size 0"},
		{"header ends before init_size", func(b []byte) { b[0x201] = 0x40 }, 0, []Loader{FileLoad}, "", "the header ends at 0x242"},
		{"not relocatable, not above 4 GiB", edits(xloadflags(0x01), func(b []byte) { b[0x234] = 0 }), 0, nil,
			"XLF_CAN_BE_LOADED_ABOVE_4G", "relocatable_kernel 0"},
		{"a zImage with a fixed address", edits(func(b []byte) { b[0x211], b[0x234] = 0, 0 }), 0, nil,
			"LOADED_HIGH", "relocatable_kernel 0"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			data := kernelHead(tc.edit)
			if tc.size != 0 {
				data = data[:tc.size]
			}
			b, err := ParseBzImage(data[:min(len(data), HeadLen)], int64(len(data)))
			if err != nil {
				t.Fatal(err)
			}
			if got := b.Loaders(); !slices.Equal(got, tc.want) {
				t.Errorf("loaders %v, want %v", got, tc.want)
			}
			for _, c := range []struct {
				l   Loader
				why string
			}{{FileLoad, tc.fileWhy}, {Load, tc.loadWhy}} {
				err := b.CanBoot(c.l)
				if ok := slices.Contains(tc.want, c.l); ok != (err == nil) {
					t.Errorf("%v: CanBoot = %v, Loaders = %v", c.l, err, b.Loaders())
				}
				if err != nil && (!strings.HasPrefix(err.Error(), c.l.String()+" needs ") || !strings.Contains(err.Error(), c.why)) {
					t.Errorf("%v: %q, want it to name %q", c.l, err, c.why)
				}
			}
			err = CheckKernel("/mnt/volume/boot/current/bzImage", bytes.NewReader(data))
			if (err == nil) != (len(tc.want) > 0) {
				t.Fatalf("CheckKernel = %v with loaders %v", err, tc.want)
			}
			if err != nil {
				for _, w := range []string{"/mnt/volume/boot/current/bzImage: kexec cannot boot it: ", tc.fileWhy, tc.loadWhy} {
					if !strings.Contains(err.Error(), w) {
						t.Errorf("CheckKernel: %q lacks %q", err, w)
					}
				}
			}
		})
	}
}

// The kernel the VM tests boot (make deps fetches it) is one both loaders
// take.
func TestDebianKernel(t *testing.T) {
	kernels, _ := filepath.Glob("../../.cache/kernel/*/boot/vmlinuz-*")
	if len(kernels) == 0 {
		t.Skip("no Debian kernel in .cache/kernel (make deps fetches one)")
	}
	for _, k := range kernels {
		f, err := os.Open(k)
		if err != nil {
			t.Fatal(err)
		}
		b, err := ReadBzImage(f)
		f.Close()
		if err != nil {
			t.Fatalf("%s: %v", k, err)
		}
		if got := b.Loaders(); !slices.Equal(got, []Loader{FileLoad, Load}) {
			t.Errorf("%s: loaders %v, want both (%+v)", k, got, b)
		}
		f, _ = os.Open(k)
		if err := CheckKernel(k, f); err != nil {
			t.Error(err)
		}
		f.Close()
	}
}
