package kexectree

import (
	"errors"
	"path"
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
