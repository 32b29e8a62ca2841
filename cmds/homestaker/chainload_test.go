package main

import (
	"bytes"
	"encoding/binary"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/homestaker/homestaker-boot/init/config"
)

// bzImageHead is an x86_64 bzImage that both kexec loaders take, as far
// as its setup header goes, with a boot protocol version and command line
// limit: 4 KiB, past its 2.5 KiB of setup code.
func bzImageHead(protocol uint16, cmdlineSize uint32) []byte {
	b := make([]byte, 0x1000)
	b[0x1fe], b[0x1ff] = 0x55, 0xaa
	b[0x200], b[0x201] = 0xeb, 0x6a // the header ends at 0x26c
	copy(b[0x202:], "HdrS")
	binary.LittleEndian.PutUint16(b[0x206:], protocol)
	b[0x211] = 0x01                                    // LOADED_HIGH
	binary.LittleEndian.PutUint32(b[0x230:], 0x200000) // kernel_alignment
	b[0x234] = 1                                       // relocatable_kernel
	binary.LittleEndian.PutUint16(b[0x236:], 0x03)     // XLF_KERNEL_64, XLF_CAN_BE_LOADED_ABOVE_4G
	binary.LittleEndian.PutUint32(b[0x238:], cmdlineSize)
	binary.LittleEndian.PutUint32(b[0x260:], 0x3000000) // init_size
	return b
}

// TestOpenKernel: KERNEL is checked by the init's own rules, and the
// refusal says what the file is instead.
func TestOpenKernel(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	file := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	f, bz, err := openKernel(file("vmlinuz", bzImageHead(0x020f, 2047)))
	if err != nil || bz.Version != 0x020f || bz.CmdlineSize != 2047 || bz.Size != 0x1000 {
		t.Errorf("a 2.15 bzImage: %+v, %v", bz, err)
	}
	if f != nil {
		f.Close()
	}

	noFlag := bzImageHead(0x020f, 2047)
	noFlag[0x1fe] = 0
	noMagic := bzImageHead(0x020f, 2047)
	copy(noMagic[0x202:], "HdrX")
	thirtyTwo := bzImageHead(0x020f, 2047)
	thirtyTwo[0x236] = 0
	withStart := func(magic string) []byte { return append([]byte(magic), make([]byte, 0x400)...) }
	for _, tc := range []struct {
		name string
		head []byte
		want []string
	}{
		{"no boot sector signature", noFlag, []string{"is not an x86 bzImage: found 00 aa at 0x1FE", `"HdrS" at 0x202`}},
		{"no setup header", noMagic, []string{"found 55 aa at 0x1FE", `"HdrX" at 0x202`}},
		{"empty", nil, []string{"it is 0 bytes", "it is empty"}},
		{"short", []byte("hello"), []string{"it is 5 bytes", "starts with 68 65 6c 6c 6f"}},
		{"vmlinux", withStart("\x7fELF"), []string{"an ELF file (vmlinux?"}},
		{"cpio", withStart("070701"), []string{"a cpio archive", "KERNEL goes first"}},
		{"zstd", withStart("\x28\xb5\x2f\xfd"), []string{"found 00 00 at 0x1FE", "and 00 00 00 00 at 0x202", "zstd data", "KERNEL goes first"}},
		{"EFI program", withStart("MZ"), []string{"a PE executable without a Linux setup header"}},
		// The boot protocols the init refuses too: neither kexec loader
		// boots them.
		{"protocol 2.04", bzImageHead(0x0204, 9999), []string{"kexec cannot boot it", "need boot protocol 2.12 or later", "found boot protocol 2.04"}},
		{"protocol 2.10", bzImageHead(0x020a, 2047), []string{"found boot protocol 2.10"}},
		{"32-bit", thirtyTwo, []string{"XLF_KERNEL_64", "found xloadflags 0x0000"}},
		{"truncated", bzImageHead(0x020f, 2047)[:0x900], []string{"truncated"}},
	} {
		p := file(strings.ReplaceAll(tc.name, " ", "-"), tc.head)
		_, _, err := openKernel(p)
		if err == nil {
			t.Errorf("%s: accepted", tc.name)
			continue
		}
		for _, w := range append(tc.want, "refusing: KERNEL "+p) {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s: %q lacks %q", tc.name, err, w)
			}
		}
	}
}

func TestIPParam(t *testing.T) {
	t.Parallel()
	dns := []netip.Addr{netip.MustParseAddr("192.168.1.1"), netip.MustParseAddr("9.9.9.9"), netip.MustParseAddr("1.1.1.1")}
	for _, tc := range []struct {
		name     string
		dev      string
		prefix   string
		gw       string
		hostname string
		dns      []netip.Addr
		want     string
	}{
		{"v4 with gateway and dns", "eth0", "192.168.1.10/24", "192.168.1.1", "node1", dns,
			"ip=192.168.1.10::192.168.1.1:255.255.255.0:node1:eth0:none:192.168.1.1:9.9.9.9"},
		{"v4 without gateway", "enp1s0", "10.1.2.3/16", "", "node1", nil,
			"ip=10.1.2.3:::255.255.0.0:node1:enp1s0:none"},
		{"v4, a hostname the init refuses", "eth1", "10.1.2.3/32", "", "node 1", dns[:1],
			"ip=10.1.2.3:::255.255.255.255::eth1:none:192.168.1.1"},
		{"v4, an IPv6 nameserver", "eth0", "10.0.0.2/8", "10.0.0.1", "localhost", []netip.Addr{netip.MustParseAddr("2001:db8::53")},
			"ip=10.0.0.2::10.0.0.1:255.0.0.0::eth0:none:[2001:db8::53]"},
		{"v4, the kernel's name for no name", "eth0", "10.0.0.2/8", "", "(none)", nil,
			"ip=10.0.0.2:::255.0.0.0::eth0:none"},
		{"v4, a hostname with '_'", "eth0", "10.0.0.2/8", "", "node_1", nil,
			"ip=10.0.0.2:::255.0.0.0:node_1:eth0:none"},
		{"v6 with gateway", "eth0", "2001:db8:1::5/64", "fe80::1", "node1", dns,
			"ip=[2001:db8:1::5]::[fe80::1]:64:node1:eth0:none"},
		{"v6 without gateway", "eth0", "2001:db8:1::5/56", "", "node1", nil,
			"ip=[2001:db8:1::5]:::56:node1:eth0:none"},
	} {
		var gw netip.Addr
		if tc.gw != "" {
			gw = netip.MustParseAddr(tc.gw)
		}
		p := netip.MustParsePrefix(tc.prefix)
		got := ipParam(tc.dev, p, gw, tc.hostname, tc.dns)
		if got != tc.want {
			t.Errorf("%s:\n got %s\nwant %s", tc.name, got, tc.want)
			continue
		}
		// The init reads back exactly what was meant.
		c, err := config.ParseIP(strings.TrimPrefix(got, "ip="))
		if err != nil {
			t.Errorf("%s: the init refuses %s: %v", tc.name, got, err)
			continue
		}
		wantDNS := tc.dns[:min(len(tc.dns), 2)]
		if p.Addr().Is6() {
			wantDNS = nil
		}
		if c.Mode != config.IPStatic || c.Device != tc.dev || c.Client != p || c.Gateway != gw || !slices.Equal(c.DNS, wantDNS) {
			t.Errorf("%s: the init reads %s as %+v", tc.name, got, c)
		}
	}
}

func TestIPParams(t *testing.T) {
	t.Parallel()
	n := hostNetwork{
		Addrs: []ifaceAddr{
			{"eth0", netip.MustParsePrefix("10.0.0.5/24")},
			{"eth0", netip.MustParsePrefix("192.168.7.5/24")},
			{"eth0", netip.MustParsePrefix("2001:db8::5/64")},
			{"eth1", netip.MustParsePrefix("172.16.0.9/16")},
		},
		Route4:   defaultRoute{"eth0", netip.MustParseAddr("192.168.7.1")},
		Route6:   defaultRoute{"eth0", netip.MustParseAddr("fe80::1")},
		Hostname: "node1",
		DNS:      []netip.Addr{netip.MustParseAddr("10.0.0.53")},
	}
	want := []string{
		"ip=[2001:db8::5]::[fe80::1]:64:node1:eth0:none",
		"ip=10.0.0.5:::255.255.255.0:node1:eth0:none:10.0.0.53",
		"ip=192.168.7.5::192.168.7.1:255.255.255.0:node1:eth0:none:10.0.0.53", // the address whose network holds the gateway
		"ip=172.16.0.9:::255.255.0.0:node1:eth1:none:10.0.0.53",               // not the route's device: no gateway
	}
	got := ipParams(n)
	if !slices.Equal(got, want) {
		t.Errorf("ipParams:\n got %q\nwant %q", got, want)
	}
	warn := shadowedIPs(got)
	if len(warn) != 1 || !strings.Contains(warn[0], "eth0 has 3 addresses") || !strings.Contains(warn[0], "192.168.7.5::") {
		t.Errorf("shadowedIPs: %q", warn)
	}
	if got := ipParams(hostNetwork{}); len(got) != 0 {
		t.Errorf("no addresses: %q", got)
	}
}

func TestConsoleParams(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		cmdline string
		want    []string
	}{
		{"BOOT_IMAGE=/vmlinuz console=tty0 quiet root=UUID=1 console=ttyS0,115200n8 ignition.platform.id=metal console= consoleblank=0\n",
			[]string{"console=tty0", "console=ttyS0,115200n8"}},
		{"root=/dev/sda1 ro", nil},
		{`console=ttyS0 -- console=tty1`, []string{"console=ttyS0"}}, // after "--" the words are init's
		{`console="ttyS1,9600"`, []string{"console=ttyS1,9600"}},
	} {
		if got := consoleParams(tc.cmdline); !slices.Equal(got, tc.want) {
			t.Errorf("consoleParams(%q) = %q, want %q", tc.cmdline, got, tc.want)
		}
	}
	got := chainloadCmdline([]string{"console=ttyS0"}, []string{"ip=10.0.0.2:::255.0.0.0::eth0:none"}, "  homestaker.wg=off ")
	if want := "console=ttyS0 ip=10.0.0.2:::255.0.0.0::eth0:none homestaker.wg=off"; got != want {
		t.Errorf("chainloadCmdline = %q, want %q", got, want)
	}
}

func TestNameservers(t *testing.T) {
	t.Parallel()
	conf := "# Generated by NetworkManager\nsearch lan\nnameserver 127.0.0.53\nnameserver 192.168.1.1\n nameserver  fe80::1%eth0\nnameserver bogus\nnameserver ::1\noptions edns0\nnameserver 9.9.9.9\n"
	got := nameservers([]byte(conf))
	want := []netip.Addr{netip.MustParseAddr("192.168.1.1"), netip.MustParseAddr("fe80::1"), netip.MustParseAddr("9.9.9.9")}
	if !slices.Equal(got, want) {
		t.Errorf("nameservers = %v, want %v", got, want)
	}
}

func TestLockdownMode(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"[none] integrity confidentiality\n": "",
		"none [integrity] confidentiality\n": "integrity",
		"none integrity [confidentiality]\n": "confidentiality",
		"":                                   "",
	} {
		if got := lockdownMode([]byte(in)); got != want {
			t.Errorf("lockdownMode(%q) = %q, want %q", in, got, want)
		}
	}
}

// fakeBoot writes a bzImage-shaped kernel, an initramfs and a
// /proc/cmdline, and returns a host with that command line.
func fakeBoot(t *testing.T, procLine string) (h *host, kernel, initramfs string) {
	t.Helper()
	dir := t.TempDir()
	kernel, initramfs = filepath.Join(dir, "vmlinuz"), filepath.Join(dir, "initramfs.cpio.zst")
	if err := os.WriteFile(kernel, bzImageHead(0x020f, 2047), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(initramfs, []byte("\x28\xb5\x2f\xfdnot really zstd"), 0o644); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, "cmdline")
	if err := os.WriteFile(p, []byte(procLine), 0o644); err != nil {
		t.Fatal(err)
	}
	h = testHost(t)
	h.procCmdline = p
	return h, kernel, initramfs
}

func runChainloadArgs(h *host, args ...string) (int, string, string) {
	var out, errb bytes.Buffer
	code := runChainload(h, args, &out, &errb)
	return code, out.String(), errb.String()
}

func TestChainloadUsage(t *testing.T) {
	t.Parallel()
	h, kernel, initramfs := fakeBoot(t, "console=ttyS0\n")
	for _, tc := range []struct {
		args []string
		want string
	}{
		{nil, "KERNEL and INITRAMFS are missing"},
		{[]string{kernel}, "INITRAMFS is missing"},
		{[]string{kernel, initramfs, "--dry-run"}, "two arguments expected, KERNEL and INITRAMFS, got 3 (flags go before them)"},
		{[]string{"--keep-net", kernel, initramfs}, "flag provided but not defined: -keep-net"},
		{[]string{"--append"}, "flag needs an argument: -append"},
		{[]string{"--append", "homestaker.wg=maybe", kernel, initramfs}, `--append: homestaker.wg="maybe"`},
	} {
		code, out, errOut := runChainloadArgs(h, tc.args...)
		if code != exitUsage || out != "" || !strings.Contains(errOut, tc.want) || !strings.Contains(errOut, "usage: homestaker chainload "+chainloadSynopsis) {
			t.Errorf("chainload %q = %d, %q, %q; want exit 2 and %q", tc.args, code, out, errOut, tc.want)
		}
	}
	code, out, _ := runChainloadArgs(h, "--help")
	for _, w := range []string{"usage: homestaker chainload " + chainloadSynopsis, "--append ARGS", "--keep-network", "--dry-run", "exit status: 0"} {
		if code != exitOK || !strings.Contains(out, w) {
			t.Errorf("--help = %d, lacks %q:\n%s", code, w, out)
		}
	}
}

func TestChainloadRefuses(t *testing.T) {
	t.Parallel()
	h, kernel, initramfs := fakeBoot(t, "console=ttyS0\n")
	dir := filepath.Dir(kernel)
	notKernel := filepath.Join(dir, "initramfs.cpio")
	if err := os.WriteFile(notKernel, append([]byte("070701"), make([]byte, 1024)...), 0o644); err != nil {
		t.Fatal(err)
	}
	empty := filepath.Join(dir, "empty")
	if err := os.WriteFile(empty, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	tiny := filepath.Join(dir, "tiny")
	head := bzImageHead(0x020f, 40)
	if err := os.WriteFile(tiny, head, 0o644); err != nil {
		t.Fatal(err)
	}
	// A 2.10 kernel: neither kexec loader boots it, and the init would
	// refuse it as a tree's kernel.
	old := filepath.Join(dir, "vmlinuz-2.10")
	if err := os.WriteFile(old, bzImageHead(0x020a, 2047), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--dry-run", old, initramfs}, "refusing: KERNEL " + old + ": kexec cannot boot it: kexec_file_load and kexec_load need boot protocol 2.12 or later"},
		{[]string{"--dry-run", filepath.Join(dir, "nope"), initramfs}, "refusing: KERNEL " + filepath.Join(dir, "nope") + " does not exist"},
		{[]string{kernel, filepath.Join(dir, "nope.cpio")}, "refusing: INITRAMFS " + filepath.Join(dir, "nope.cpio") + " does not exist"},
		{[]string{"--dry-run", dir, initramfs}, "is a d"},
		{[]string{"--dry-run", notKernel, initramfs}, "refusing: KERNEL " + notKernel + " is not an x86 bzImage: found 00 00 at 0x1FE"},
		{[]string{"--dry-run", initramfs, kernel}, "is not an x86 bzImage"},
		{[]string{"--dry-run", kernel, kernel}, "INITRAMFS " + kernel + " is a bzImage: KERNEL goes first"},
		{[]string{"--dry-run", kernel, empty}, "INITRAMFS " + empty + " is empty"},
		{[]string{"--dry-run", "--append", strings.Repeat("x", 40), tiny, initramfs}, "the command line is 54 bytes, " + tiny + " takes at most 39"},
	} {
		code, out, errOut := runChainloadArgs(h, tc.args...)
		if code != exitCheck || out != "" || !strings.Contains(errOut, "homestaker chainload: ") || !strings.Contains(errOut, tc.want) {
			t.Errorf("chainload %q = %d, %q, %q; want exit 1 and %q", tc.args, code, out, errOut, tc.want)
		}
	}
}

func TestChainloadNotRoot(t *testing.T) {
	t.Parallel()
	h, kernel, initramfs := fakeBoot(t, "console=ttyS0\n")
	h.geteuid = func() int { return 1000 }
	code, _, errOut := runChainloadArgs(h, kernel, initramfs)
	if code != exitCheck || !strings.Contains(errOut, "run as root") {
		t.Errorf("as uid 1000: %d, %q; want exit 1, run as root", code, errOut)
	}
	// A dry run needs no root.
	if code, _, errOut := runChainloadArgs(h, "--dry-run", kernel, initramfs); code != exitOK {
		t.Errorf("dry run as uid 1000: %d, %q", code, errOut)
	}
}

func TestChainloadDryRun(t *testing.T) {
	t.Parallel()
	h, kernel, initramfs := fakeBoot(t, "BOOT_IMAGE=(hd0,gpt3)/ostree/vmlinuz rw console=tty0 console=ttyS0,115200n8 ignition.platform.id=metal\n")
	code, out, errOut := runChainloadArgs(h, "--dry-run", "--append", "homestaker.label=node1 homestaker.wg=optional", kernel, initramfs)
	if code != exitOK || errOut != "" {
		t.Fatalf("dry run: %d, %q", code, errOut)
	}
	for _, w := range []string{
		"kernel:    " + kernel + " (4096 bytes, x86 bzImage, boot protocol 2.15)\n",
		"initramfs: " + initramfs + " (19 bytes)\n",
		"cmdline:   console=tty0 console=ttyS0,115200n8 homestaker.label=node1 homestaker.wg=optional\n",
		"dry run: nothing loaded\n",
	} {
		if !strings.Contains(out, w) {
			t.Errorf("dry run output lacks %q:\n%s", w, out)
		}
	}
	// An unknown homestaker.* key is the init's warning, not a refusal.
	code, _, errOut = runChainloadArgs(h, "--dry-run", "--append", "homestaker.lable=x", kernel, initramfs)
	if code != exitOK || !strings.Contains(errOut, "warning: --append: homestaker.lable=") || !strings.Contains(errOut, "did you mean homestaker.label") {
		t.Errorf("unknown key: %d, %q", code, errOut)
	}
}

func TestChainloadDryRunKeepNetwork(t *testing.T) {
	t.Parallel()
	// Reads this machine's network: only that it works and every ip= is
	// one the init accepts.
	h, kernel, initramfs := fakeBoot(t, "console=ttyS0\n")
	code, out, errOut := runChainloadArgs(h, "--dry-run", "--keep-network", kernel, initramfs)
	if code != exitOK {
		t.Fatalf("dry run --keep-network: %d, %q", code, errOut)
	}
	for _, w := range strings.Fields(out) {
		if v, ok := strings.CutPrefix(w, "ip="); ok {
			if _, err := config.ParseIP(v); err != nil {
				t.Errorf("the init refuses %s: %v", w, err)
			}
		}
	}
	t.Logf("%s%s", out, errOut)
}
