package kexectree

import (
	"bytes"
	"errors"
	"path"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"
)

// checkResult holds what every caller relies on: a tree path that can be
// joined to the tree's directory without leaving it, and errors that are
// ParseErrors naming the file.
func checkResult(t *testing.T, file string, tree Tree, err error) {
	t.Helper()
	if err != nil {
		var pe *ParseError
		if !errors.As(err, &pe) {
			t.Fatalf("error %v is not a *ParseError", err)
		}
		if !strings.HasPrefix(pe.File, path.Dir(file)) || pe.Line < 0 || utf8.RuneCountInString(pe.Text) > maxQuote {
			t.Fatalf("bad ParseError %#v", pe)
		}
		return
	}
	if tree.Kernel == "" {
		t.Fatalf("success with no kernel: %+v", tree)
	}
	for _, p := range []string{tree.Kernel, tree.Initrd} {
		if p == "" {
			continue
		}
		if path.IsAbs(p) || path.Clean(p) != p || p == "." || p == ".." || strings.HasPrefix(p, "../") {
			t.Fatalf("path %q is not clean, relative and inside the tree: %+v", p, tree)
		}
	}
	if strings.Contains(tree.Cmdline, scriptDirMark) {
		t.Fatalf("internal mark leaked into the command line: %q", tree.Cmdline)
	}
}

func FuzzParseKexecBoot(f *testing.F) {
	f.Add([]byte(homestakerKexecBoot))
	f.Add([]byte(strings.ReplaceAll(homestakerKexecBoot, "\n", "\r\n")))
	f.Add([]byte(kexecScript(`kexec -l '$SCRIPT_DIR' "$SCRIPT_DIR/../x" --initrd ${SCRIPT_DIR}/a\ b --append="\$\"" -- y`)))
	f.Add([]byte("if ! kexec -v; then\n if x; then fi\nfi\nset -e\nkexec -ls bzImage # c \\\nkexec -e\n"))
	f.Fuzz(func(t *testing.T, script []byte) {
		const file = "/boot/current/kexec-boot"
		tree, err := ParseKexecBoot(file, script)
		checkResult(t, file, tree, err)
		if err == nil && tree.From != "kexec-boot" {
			t.Fatalf("From = %q", tree.From)
		}
	})
}

func FuzzParseIPXE(f *testing.F) {
	f.Add([]byte(homestakerNetboot), []byte(homestakerVars))
	f.Add([]byte("#!ipxe\nset a ${b}\nkernel --name=x ./k/../bzImage ${a} #x\ninitrd -n i i\nimgfree\nboot\n"), []byte(nil))
	f.Add([]byte("#!ipxe\r\nchain -a ./variables.ipxe\r\nkernel ${k}\r\n"), []byte("#!ipxe\nset k bzImage\nboot\n"))
	f.Fuzz(func(t *testing.T, script, vars []byte) {
		const file = "/boot/current/netboot.ipxe"
		tree, err := ParseIPXE(file, script, vars)
		checkResult(t, file, tree, err)
		if err == nil && tree.From != "netboot.ipxe" {
			t.Fatalf("From = %q", tree.From)
		}
	})
}

// FuzzBzImage: the parser never panics, and each loader's verdict is the
// one its conditions give when read straight from the bytes.
func FuzzBzImage(f *testing.F) {
	f.Add(kernelHead(nil)[:HeadLen], int64(0x4000))
	f.Add(kernelHead(version(0x020a))[:HeadLen], int64(0x4000))
	f.Add(kernelHead(xloadflags(1))[:HeadLen], int64(0x4000))
	f.Add(kernelHead(func(b []byte) { b[0x234] = 0 })[:HeadLen], int64(0x4000))
	f.Add(kernelHead(func(b []byte) { b[0x201] = 0xff })[:0x2f0], int64(0x2f0))
	f.Add([]byte("\x7fELF"), int64(4))
	f.Fuzz(func(t *testing.T, head []byte, size int64) {
		b, err := ParseBzImage(head, size)
		fileOK, loadOK := loaderConditions(head, size)
		if err != nil {
			if _, ok := err.(*NotBzImageError); !ok {
				t.Fatalf("error %v is not a *NotBzImageError", err)
			}
			if fileOK || loadOK {
				t.Fatalf("refused as no bzImage, yet bootable: %v", err)
			}
			_ = err.Error()
			return
		}
		for _, c := range []struct {
			l  Loader
			ok bool
		}{{FileLoad, fileOK}, {Load, loadOK}} {
			if got := b.CanBoot(c.l); (got == nil) != c.ok {
				t.Fatalf("%v: CanBoot = %v, want ok=%v; %+v", c.l, got, c.ok, b)
			}
			if slices.Contains(b.Loaders(), c.l) != c.ok {
				t.Fatalf("%v: Loaders = %v", c.l, b.Loaders())
			}
		}
		if (b.Bootable() == nil) != (fileOK || loadOK) {
			t.Fatalf("Bootable = %v, file %v, load %v", b.Bootable(), fileOK, loadOK)
		}
		if b.Header != nil && (len(b.Header) != b.HeaderEnd-SetupHeaderOffset || !bytes.Equal(b.Header, head[SetupHeaderOffset:b.HeaderEnd])) {
			t.Fatalf("header of %d bytes, ends at %#x", len(b.Header), b.HeaderEnd)
		}
		// CheckKernel over a file of exactly these bytes agrees.
		if size == int64(len(head)) && len(head) <= HeadLen {
			if err := CheckKernel("k", bytes.NewReader(head)); (err == nil) != (fileOK || loadOK) {
				t.Fatalf("CheckKernel = %v, file %v, load %v", err, fileOK, loadOK)
			}
		}
	})
}

// loaderConditions are the loaders' conditions written from the bytes:
// bzImage64_probe's and bzImage64_load's for kexec_file_load, what
// init/handover/kexecload.go relies on for kexec_load.
func loaderConditions(head []byte, size int64) (fileLoad, load bool) {
	if size < int64(len(head)) {
		head = head[:max(size, 0)]
	}
	if len(head) < 0x264 || head[0x1fe] != 0x55 || head[0x1ff] != 0xaa || string(head[0x202:0x206]) != "HdrS" {
		return false, false
	}
	le16 := func(o int) uint16 { return uint16(head[o]) | uint16(head[o+1])<<8 }
	le32 := func(o int) uint32 { return uint32(le16(o)) | uint32(le16(o+2))<<16 }
	sects := int64(head[0x1f1])
	if sects == 0 {
		sects = 4
	}
	v := le16(0x206)
	both := v >= 0x020c && size > (sects+1)*512 && head[0x236]&1 != 0
	fileLoad = both && head[0x211]&1 != 0 && head[0x236]&2 != 0
	align, end := le32(0x230), 0x202+int(head[0x201])
	load = both && head[0x234] != 0 && align >= 4096 && align&(align-1) == 0 && le32(0x260) != 0 && end >= 0x264 && end <= len(head)
	return fileLoad, load
}
