package handover

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"

	"github.com/klauspost/compress/zstd"
	"github.com/u-root/u-root/pkg/cpio"
	"golang.org/x/sys/unix"

	"github.com/homestaker/homestaker-boot/init/report"
)

func TestInitCandidates(t *testing.T) {
	for _, tc := range []struct {
		cmdline string
		want    []string
	}{
		{"init=/nix/store/abc-nixos-system-x/init boot.shell_on_fail mitigations=off", []string{"/nix/store/abc-nixos-system-x/init", "/init", "/sbin/init"}},
		{"console=ttyS0 rdinit=/bin/sh", []string{"/bin/sh", "/init", "/sbin/init"}},
		{"rdinit=/rd init=/a init=/b", []string{"/b", "/rd", "/init", "/sbin/init"}},
		{`init="/path with space/init"`, []string{"/path with space/init", "/init", "/sbin/init"}},
		{"quiet -- init=/after-dashes", []string{"/init", "/sbin/init"}},
		{"init= init", []string{"/init", "/sbin/init"}},
		{"init=/init", []string{"/init", "/sbin/init"}},
		{"", []string{"/init", "/sbin/init"}},
	} {
		if got := initCandidates(tc.cmdline); !slices.Equal(got, tc.want) {
			t.Errorf("initCandidates(%q) = %q, want %q", tc.cmdline, got, tc.want)
		}
	}
}

func TestMoveOrder(t *testing.T) {
	got, err := moveOrder([]string{"/mnt/secrets", "/run", "/dev", "/mnt", "/dev/pts", "/proc", "/sys", "/run", "/mnt-data"}, "/newroot")
	if err != nil {
		t.Fatal(err)
	}
	// /dev/pts and /mnt/secrets move with their parents.
	if want := []string{"/dev", "/mnt", "/mnt-data", "/proc", "/run", "/sys"}; !slices.Equal(got, want) {
		t.Errorf("got %q, want %q", got, want)
	}
	for _, bad := range []string{"/", "run", "/run/", "/a/../b", "/newroot", "/newroot/x"} {
		if _, err := moveOrder([]string{"/dev", bad}, "/newroot"); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}

func TestFindInit(t *testing.T) {
	root := t.TempDir()
	mk := func(name string, mode os.FileMode, data string) {
		p := filepath.Join(root, name)
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, []byte(data), mode); err != nil {
			t.Fatal(err)
		}
	}
	ln := func(name, target string) {
		p := filepath.Join(root, name)
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.Symlink(target, p); err != nil {
			t.Fatal(err)
		}
	}
	mk("bin/busybox", 0o755, "\x7fELF")
	ln("bin/sh", "busybox")
	mk("init", 0o755, "#!/bin/sh\nexec /bin/busybox\n")
	mk("nix/store/abc-system/init", 0o755, "#!/nix/store/def-bash/bin/bash\n") // interpreter missing
	ln("run/current-system", "/nix/store/abc-system")                          // absolute: within the new root
	mk("nix/store/xyz-stage2/init", 0o755, "#! /bin/sh -e\n")
	ln("sbin/init", "../../../../nix/store/xyz-stage2/init") // ".." stops at the root
	mk("etc/motd", 0o644, "not a program")
	ln("loop", "loop")

	for _, tc := range []struct {
		cmdline string
		want    string
		wantErr string
	}{
		{"init=/init", "/init", ""},
		{"init=/nix/store/xyz-stage2/init", "/nix/store/xyz-stage2/init", ""},
		{"init=/missing", "/init", ""}, // falls back, as the kernel does
		{"init=/run/current-system/init rdinit=/sbin/init", "/sbin/init", ""},
		{"init=/etc/motd rdinit=/loop", "/init", ""},
	} {
		got, err := findInit(root, tc.cmdline)
		if err != nil || got != tc.want {
			t.Errorf("findInit(%q) = %q, %v; want %q", tc.cmdline, got, err, tc.want)
		}
	}

	for _, name := range []string{"init", "sbin/init"} {
		os.Remove(filepath.Join(root, name))
	}
	_, err := findInit(root, "init=/run/current-system/init rdinit=/etc/motd")
	for _, want := range []string{
		"/run/current-system/init: its interpreter /nix/store/def-bash/bin/bash: /nix/store/def-bash: no such file", // the missing directory named
		"/etc/motd: /etc/motd is not an executable file",
		"/init: /init: no such file or directory",
	} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("got %v, want it to say %q", err, want)
		}
	}
}

// The root-only test: SwitchRoot in a child process (this test binary
// again) with its own mount namespace, into an initrd whose /init is a
// small static program that reports what the next stage sees.

const (
	childEnv  = "HANDOVER_TEST_SWITCHROOT_DIR"
	stage2Arg = "handover.test.stage2"
)

func TestMain(m *testing.M) {
	if dir := os.Getenv(childEnv); dir != "" {
		switchRootChild(dir)
		return
	}
	if dir := os.Getenv(badInitrdEnv); dir != "" {
		badInitrdChild(dir)
		return
	}
	os.Exit(m.Run())
}

const stage2Source = `package main

import (
	"fmt"
	"os"
)

func main() {
	wd, _ := os.Getwd()
	fmt.Printf("exec as %s, pid %d, cwd %s\n", os.Args[0], os.Getpid(), wd)
	fmt.Printf("env %q\n", os.Environ())
	for _, f := range []string{"/run/homestaker/cmdline", "/run/homestaker/report.json", "/run/nested/file", "/mnt/secrets/wg0.conf", "/etc/hostname"} {
		b, err := os.ReadFile(f)
		fmt.Printf("%s: %q %v\n", f, b, err)
	}
	for _, f := range []string{"/usr", "/proc/self"} {
		_, err := os.Stat(f)
		fmt.Printf("%s exists: %v\n", f, err == nil)
	}
}
`

// buildStage2 builds stage2Source as a static binary.
func buildStage2(t *testing.T) []byte {
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go tool to build the next stage's init")
	}
	src := t.TempDir()
	os.WriteFile(filepath.Join(src, "go.mod"), []byte("module stage2\n\ngo 1.22\n"), 0o644)
	os.WriteFile(filepath.Join(src, "main.go"), []byte(stage2Source), 0o644)
	cmd := exec.Command(goTool, "build", "-o", "init", ".")
	cmd.Dir = src
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOWORK=off", "GOFLAGS=")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("building the stage 2 init: %v\n%s", err, out)
	}
	b, err := os.ReadFile(filepath.Join(src, "init"))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func switchRootChild(dir string) {
	// What the bootstrap has mounted, under "old" standing for its "/":
	// a /run with a mount inside it, and a subvolume mount.
	for _, m := range []string{"run", "run/nested", "mnt/secrets"} {
		p := filepath.Join(dir, "old", m)
		os.MkdirAll(p, 0o755)
		if err := unix.Mount("tmpfs", p, "tmpfs", 0, "size=1m"); err != nil {
			fmt.Println("tmpfs:", err)
			os.Exit(2)
		}
	}
	os.WriteFile(filepath.Join(dir, "old/mnt/secrets/wg0.conf"), []byte("[Interface]"), 0o600)
	os.WriteFile(filepath.Join(dir, "old/run/nested/file"), []byte("nested"), 0o600)
	initrd, err := os.Open(filepath.Join(dir, "initrd.zst"))
	if err != nil {
		fmt.Println(err)
		os.Exit(2)
	}
	old := filepath.Join(dir, "old")
	s := &switchRoot{
		newRoot: filepath.Join(dir, "newroot"),
		initrd:  initrd,
		cmdline: "init=/init " + stage2Arg,
		moves:   []string{old + "/mnt/secrets", old + "/run/nested", old + "/run"},
		files:   map[string][]byte{"run/homestaker/report.json": []byte(`{"result":"ok"}`)},
	}
	err = s.run()
	fmt.Println("SwitchRoot returned:", err)
	os.Exit(1)
}

// newc writes a cpio archive with u-root's writer.
func newc(t *testing.T, records ...cpio.Record) []byte {
	t.Helper()
	var b bytes.Buffer
	w := cpio.Newc.Writer(&b)
	if err := cpio.WriteRecords(w, records); err != nil {
		t.Fatal(err)
	}
	if err := cpio.WriteTrailer(w); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func TestSwitchRoot(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root for mounts in a new mount namespace")
	}
	stage2 := buildStage2(t)
	tmp := t.TempDir()
	old := strings.TrimPrefix(filepath.Join(tmp, "old"), "/")
	// The initrd: the stage 2 program as /init, and symlinks from the paths the
	// stage reads to where the moves put the mounts (<new root>/<tmp>/old/...).
	archive := newc(t,
		cpio.Directory(".", 0o755),
		cpio.StaticFile("init", string(stage2), 0o755),
		cpio.Directory("etc", 0o755),
		cpio.StaticFile("etc/hostname", "next\n", 0o644),
		cpio.Symlink("run", old+"/run"),
		cpio.Directory("mnt", 0o755),
		cpio.Symlink("mnt/secrets", "../"+old+"/mnt/secrets"),
	)
	enc, _ := zstd.NewWriter(nil)
	if err := os.WriteFile(filepath.Join(tmp, "initrd.zst"), enc.EncodeAll(archive, nil), 0o644); err != nil {
		t.Fatal(err)
	}

	cmd := exec.Command("/proc/self/exe", "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"="+tmp)
	cmd.SysProcAttr = &syscall.SysProcAttr{Unshareflags: syscall.CLONE_NEWNS}
	out, err := cmd.CombinedOutput()
	t.Logf("next stage:\n%s", out)
	if err != nil {
		t.Fatalf("child: %v", err)
	}
	for _, want := range []string{
		"exec as /init, pid ",
		", cwd /\n",
		`"HOME=/" "TERM=linux" "HOMESTAKER_CMDLINE=init=/init ` + stage2Arg + `"`,
		`/run/homestaker/cmdline: "init=/init ` + stage2Arg + `\n" <nil>`,
		`/run/homestaker/report.json: "{\"result\":\"ok\"}" <nil>`,
		`/run/nested/file: "nested" <nil>`,
		`/mnt/secrets/wg0.conf: "[Interface]" <nil>`,
		`/etc/hostname: "next\n" <nil>`,
		"/usr exists: false",
	} {
		if !strings.Contains(string(out), want) {
			t.Errorf("the next stage did not see %s", want)
		}
	}
	// The mounts moved in the child's namespace only.
	if _, err := os.Stat(filepath.Join(tmp, "old/mnt/secrets/wg0.conf")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the test's namespace sees the child's mounts: %v", err)
	}
}

// TestSwitchRootFailsCleanly: a bad initrd is reported before anything
// moves, and the new root is gone again.
func TestSwitchRootFailsCleanly(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root for mounts in a new mount namespace")
	}
	tmp := t.TempDir()
	os.WriteFile(filepath.Join(tmp, "initrd"), newc(t, cpio.StaticFile("../escape", "x", 0o644)), 0o644)
	cmd := exec.Command("/proc/self/exe", "-test.run=^$")
	cmd.Env = append(os.Environ(), badInitrdEnv+"="+tmp)
	cmd.SysProcAttr = &syscall.SysProcAttr{Unshareflags: syscall.CLONE_NEWNS}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("child: %v\n%s", err, out)
	}
	for _, want := range []string{
		`found: unpacking ` + tmp + `/initrd into ` + tmp + `/newroot: initrd segment at byte 0 (cpio): cpio entry "../escape"`,
		"action: check the tree's initrd and command line, or boot with homestaker.handover=kexec",
		"new root removed: true",
		"run still mounted: true",
	} {
		if !strings.Contains(string(out), want) {
			t.Errorf("got:\n%s\nwant it to say %s", out, want)
		}
	}
}

const badInitrdEnv = "HANDOVER_TEST_BAD_INITRD_DIR"

func badInitrdChild(dir string) {
	f, _ := os.Open(filepath.Join(dir, "initrd"))
	run := filepath.Join(dir, "run")
	os.Mkdir(run, 0o755)
	if err := unix.Mount("tmpfs", run, "tmpfs", 0, "size=1m"); err != nil {
		fmt.Println(err)
		os.Exit(2)
	}
	s := &switchRoot{newRoot: filepath.Join(dir, "newroot"), initrd: f, cmdline: "init=/init", moves: []string{run}}
	var fail *report.Failure
	if !errors.As(s.run(), &fail) {
		fmt.Println("not a report.Failure")
		os.Exit(1)
	}
	fmt.Printf("found: %s\naction: %s\n", fail.Found, fail.Action)
	_, err := os.Stat(s.newRoot)
	fmt.Println("new root removed:", errors.Is(err, os.ErrNotExist))
	var st1, st2 unix.Stat_t
	unix.Stat(run, &st1)
	unix.Stat(dir, &st2)
	fmt.Println("run still mounted:", st1.Dev != st2.Dev)
}
