package vmtest

import (
	"encoding/json"
	"net/netip"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/u-root/mkuimage/cpio"

	"github.com/homestaker/homestaker-boot/init/netup"
	"github.com/homestaker/homestaker-boot/init/report"
	"github.com/homestaker/homestaker-boot/vmtest/fixture"
)

// chainloadArgs are what the fallback Linux passes with --append: the
// bootstrap takes the stage 2 from its initramfs and powers off on failure.
const chainloadArgs = "homestaker.next=initramfs:/next homestaker.onfail=poweroff homestaker.wg=off homestaker.ntp=10.0.2.2"

// fallbackLinux is the initramfs of a "fallback Linux": vmtest/fallback as
// its init, the static CLI as /homestaker, and under /boot the files it
// chainloads and /boot/append, then extra. An empty kernel or initramfs is
// left out.
func fallbackLinux(t testing.TB, cli, kernel, initramfs, appendArgs string, extra ...cpio.Record) string {
	t.Helper()
	dir := t.TempDir()
	initBin := filepath.Join(dir, "fallback")
	if err := fixture.GoBuild(bench.root, initBin, "./vmtest/fallback"); err != nil {
		t.Fatal(err)
	}
	recs := []cpio.Record{
		cpio.Directory("dev", 0o755),
		cpio.CharDev("dev/console", 0o600, 5, 1),
		cpio.StaticFile("boot/append", appendArgs+"\n", 0o644),
	}
	files := []struct {
		src, name string
		perm      uint64
	}{
		{initBin, "init", 0o755},
		{cli, "homestaker", 0o755},
		{kernel, "boot/vmlinuz", 0o644},
		{initramfs, "boot/initramfs.cpio.zst", 0o644},
	}
	for _, f := range files {
		if f.src == "" {
			continue
		}
		r, err := fixture.FileRecord(f.src, f.name, f.perm)
		if err != nil {
			t.Fatal(err)
		}
		recs = append(recs, r)
	}
	recs = append(recs, extra...)
	out := filepath.Join(dir, "fallback.cpio")
	if err := fixture.WriteCPIO(out, recs); err != nil {
		t.Fatal(err)
	}
	return out
}

// fallbackNetwork are the records that give the fallback Linux a static
// network: its NIC driver (virtio_net and what it needs, which the test
// kernel has as modules), network as /boot/network (vmtest/fallback's
// format) and flags for chainload as /boot/chainload-flags.
func fallbackNetwork(t testing.TB, network, flags string) []cpio.Record {
	t.Helper()
	recs, err := fixture.ModuleRecords(bench.modules, t.TempDir(), []string{"virtio_pci", "virtio_net"})
	if err != nil {
		t.Fatal(err)
	}
	return append(recs,
		cpio.StaticFile("boot/network", network, 0o644),
		cpio.StaticFile("boot/chainload-flags", flags+"\n", 0o644))
}

// A running Linux (no systemd, nothing but a kernel and an init) runs
// `homestaker chainload` on the bootstrap: the bootstrap comes up on the
// console carried over from the fallback's command line, with the
// parameters of --append, and goes on to the stage 2. Refusals leave the
// fallback running with nothing loaded.
func TestChainload(t *testing.T) {
	cli := filepath.Join(t.TempDir(), "homestaker")
	if err := fixture.GoBuild(bench.root, cli, "./cmds/homestaker"); err != nil {
		t.Fatal(err)
	}

	t.Run("to stage 2", func(t *testing.T) {
		bootstrap := withAppended(t, bench.initramfs, treeRecords(t, "next", fixture.Stage2Cmdline))
		disk := PrepareDisk(t, WithTunnel...)
		vm := BootNIC(t, UserNet, fallbackLinux(t, cli, bench.kernel, bootstrap, chainloadArgs), nil, Drive(disk.Path))
		vm.Expect("FALLBACK-LINUX up")
		// Boot gave the fallback kernel console=ttyS0 (and panic=-1 and
		// homestaker.ntp=, which are not carried over).
		vm.Expect("cmdline:   console=ttyS0 " + chainloadArgs + "\r")
		vm.Expect("loaded with kexec_file_load\r")
		vm.Expect("syncing and rebooting into the bootstrap (reboot(KEXEC))")
		// The bootstrap's own console output reaches ttyS0 only through
		// the carried-over console=ttyS0.
		vm.Expect("homestaker-boot ")
		vm.Expect("init started")
		vm.Expect("[  OK  ] nextstage: initramfs:/next")
		vm.Expect("HOMESTAKER-STAGE2 up")
		out := vm.Expect("HOMESTAKER-STAGE2 powering off")
		// The tree's command line, and the report the bootstrap saved on
		// the volume.
		want := regexp.MustCompile(`HOMESTAKER-STAGE2 cmdline: ` + regexp.QuoteMeta(fixture.Stage2Cmdline) + `( homestaker\.report=\S+)?\r`)
		if !want.MatchString(out) {
			t.Errorf("stage 2 did not get the tree's command line %q; console:\n%s", fixture.Stage2Cmdline, out)
		}
		for _, l := range vm.Lines() {
			if strings.Contains(l.Text, "FALLBACK-LINUX failed") {
				t.Errorf("the fallback Linux saw a failure: %s", l.Text)
			}
		}
		if err := vm.Wait(); err != nil {
			t.Errorf("VM: %v", err)
		}
	})

	refusals := []struct {
		name, kernel, initramfs string
		want                    string
	}{
		// The stage 2's initrd, zstd data, where the kernel should be.
		{"kernel not a bzImage", bench.stage2, bench.initramfs,
			"homestaker chainload: refusing: KERNEL /boot/vmlinuz is not an x86 bzImage: found "},
		{"initramfs missing", bench.kernel, "",
			"homestaker chainload: refusing: INITRAMFS /boot/initramfs.cpio.zst does not exist"},
	}
	for _, r := range refusals {
		t.Run(r.name, func(t *testing.T) {
			vm := BootNIC(t, "none", fallbackLinux(t, cli, r.kernel, r.initramfs, chainloadArgs), nil)
			vm.Expect("FALLBACK-LINUX up")
			out := vm.Expect(r.want)
			out += vm.Expect("FALLBACK-LINUX kexec_loaded=")
			out += vm.Expect("FALLBACK-LINUX powering off")
			if !strings.Contains(out, "FALLBACK-LINUX kexec_loaded=0\r") {
				t.Errorf("a kernel was loaded after the refusal:\n%s", out)
			}
			if !strings.Contains(out, "FALLBACK-LINUX failed: chainload: exit status 1") {
				t.Errorf("chainload did not exit with status 1:\n%s", out)
			}
			if strings.Contains(out, "cmdline:") {
				t.Errorf("chainload went on past the refusal:\n%s", out)
			}
			if err := vm.Wait(); err != nil {
				t.Errorf("VM: %v", err)
			}
		})
	}
}

// The fallback Linux has a static network, as an operator's CoreOS with a
// NetworkManager profile would: an IPv4 and an IPv6 address on eth0, both
// default routes, a nameserver and a hostname. `chainload --keep-network`
// turns them into ip= parameters; the bootstrap kernel gets them, the
// network stage configures the IPv4 one (the last ip= of a device wins)
// without DHCP, and the boot goes on to the stage 2. 10.0.2.50 is not the
// address QEMU's DHCP server would hand out (10.0.2.15). The IPv6 network
// is a unique local one: QEMU's default, fec0::/64, is site-local, a scope
// that --keep-network (global addresses only) rightly leaves behind.
func TestChainloadKeepNetwork(t *testing.T) {
	const network = `link eth0
address 10.0.2.50/24
address fd00:2::50/64
gateway 10.0.2.2
gateway fd00:2::2
nameserver 10.0.2.3
hostname node1
`
	const (
		ip6 = "ip=[fd00:2::50]::[fd00:2::2]:64:node1:eth0:none"
		ip4 = "ip=10.0.2.50::10.0.2.2:255.255.255.0:node1:eth0:none:10.0.2.3"
	)
	cmdline := "console=ttyS0 " + ip6 + " " + ip4 + " " + chainloadArgs

	bootstrap := withAppended(t, bench.initramfs, treeRecords(t, "next", fixture.Stage2Cmdline))
	disk := PrepareDisk(t, WithTunnel...)
	fallback := fallbackLinux(t, bench.cli, bench.kernel, bootstrap, chainloadArgs, fallbackNetwork(t, network, "--keep-network")...)
	vm := BootNIC(t, UserNet+",ipv6-net=fd00:2::/64", fallback, nil, Drive(disk.Path))
	vm.Expect("FALLBACK-LINUX network: eth0 [10.0.2.50/24 fd00:2::50/64]")
	out := vm.Expect("syncing and rebooting into the bootstrap (reboot(KEXEC))")
	for _, want := range []string{
		"cmdline:   " + cmdline + "\r",
		// One ip= per device: the IPv6 one is said to be shadowed.
		"homestaker chainload: warning: eth0 has 2 addresses; the bootstrap applies one ip= per device, the last: " + ip4 + "\r",
		"loaded with kexec_file_load\r",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("chainload's output lacks %q:\n%s", want, out)
		}
	}
	// The bootstrap kernel's own banner: its /proc/cmdline.
	vm.Expect("Command line: " + cmdline + "\r")
	vm.Expect("init started")
	out = vm.Expect("HOMESTAKER-STAGE2 powering off")
	network4 := regexp.MustCompile(`\[  OK  \] network: eth0 10\.0\.2\.50/24 static in \S+, gateway 10\.0\.2\.2, `)
	if !network4.MatchString(out) {
		t.Errorf("the network stage did not configure the carried-over address statically:\n%s", out)
	}
	for _, want := range []string{"[  OK  ] nextstage: initramfs:/next", "HOMESTAKER-STAGE2 up"} {
		if !strings.Contains(out, want) {
			t.Errorf("the console lacks %q:\n%s", want, out)
		}
	}
	for _, bad := range []string{"by DHCP", "no DNS server from the lease or ip="} {
		if strings.Contains(out, bad) {
			t.Errorf("the bootstrap's console shows %q:\n%s", bad, out)
		}
	}
	if !strings.Contains(out, "HOMESTAKER-STAGE2 report /boot/reports/000001.json: ") {
		t.Errorf("the stage 2 found no boot report on the volume:\n%s", out)
	}
	for _, l := range vm.Lines() {
		if strings.Contains(l.Text, "FALLBACK-LINUX failed") {
			t.Errorf("the fallback Linux saw a failure: %s", l.Text)
		}
	}
	if err := vm.Wait(); err != nil {
		t.Errorf("VM: %v", err)
	}

	// The report the bootstrap saved: its command line, and eth0 static
	// with the address, with no DHCP lease.
	var rep report.Report
	if err := json.Unmarshal([]byte(disk.ReadFile("boot/reports/000001.json")), &rep); err != nil {
		t.Fatalf("the boot report: %v", err)
	}
	if rep.Cmdline != cmdline {
		t.Errorf("the report's command line is %q, want %q", rep.Cmdline, cmdline)
	}
	st, ok := rep.Stage("network")
	if !ok {
		t.Fatal("the report has no network stage")
	}
	b, _ := json.Marshal(st.Facts["links"])
	var links []netup.Link
	if err := json.Unmarshal(b, &links); err != nil {
		t.Fatalf("the network stage's links %s: %v", b, err)
	}
	addrs := []netip.Prefix{netip.MustParsePrefix("10.0.2.50/24")}
	if len(links) != 1 || links[0].Name != "eth0" || links[0].Method != netup.MethodStatic || !links[0].Carrier || !slices.Equal(links[0].Addrs, addrs) {
		t.Errorf("the report's links are %s, want eth0 static 10.0.2.50/24 with a carrier", b)
	}
	if _, ok := st.Facts["lease"]; ok {
		t.Errorf("the report records a DHCP lease: %v", st.Facts["lease"])
	}
}
