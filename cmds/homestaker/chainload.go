package main

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"strings"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/homestaker/homestaker-boot/init/config"
	"github.com/homestaker/homestaker-boot/init/handover"
	"github.com/homestaker/homestaker-boot/init/hostname"
	"github.com/homestaker/homestaker-boot/init/kexectree"
)

const (
	chainloadSynopsis = "[--append ARGS] [--keep-network] [--dry-run] KERNEL INITRAMFS"
	chainloadAbout    = `Boots the homestaker-boot bootstrap from this running Linux: it loads KERNEL
(an x86 bzImage) and INITRAMFS with kexec_file_load, or kexec_load where that
is refused for a reason other than signature policy, then hands over: with
systemctl kexec when systemd is PID 1, so that services stop and filesystems
unmount cleanly, otherwise by syncing and calling reboot(KEXEC).

The bootstrap's command line is every console= of /proc/cmdline in order,
then with --keep-network one ip= per global address of each interface that
is up, then ARGS (which therefore win over the ip= before them). ARGS are
checked with the init's own parser first.

Nothing is loaded, and the system runs on untouched, when a file is missing,
KERNEL is not an x86 bzImage that kexec can boot (the init's own check), ARGS
are wrong or the command line is too long for KERNEL. Loading needs root;
--dry-run does not.

exit status: 0 loaded and handed over (with --dry-run: every check passed),
1 refused or a step failed, 2 wrong usage`
)

// What chainload reads on the running system, besides the host's.
var (
	pid1Comm     = "/proc/1/comm"
	lockdownFile = "/sys/kernel/security/lockdown"
	// systemd-resolved's stub (127.0.0.53) is useless after kexec; its
	// upstream servers are in the second file.
	resolvConfs = []string{"/etc/resolv.conf", "/run/systemd/resolve/resolv.conf"}
)

type chainloadOptions struct {
	appendArgs        string
	keepNetwork       bool
	dryRun            bool
	kernel, initramfs string
	host              *host
}

func runChainload(h *host, args []string, stdout, stderr io.Writer) int {
	o := chainloadOptions{host: h}
	fs := newFlagSet("chainload")
	fs.StringVar(&o.appendArgs, "append", "", "parameters for the bootstrap, after the carried-over ones,\ne.g. \"homestaker.label=node1 homestaker.wg=optional\"")
	fs.BoolVar(&o.keepNetwork, "keep-network", false, "carry this system's network over as ip= parameters: each global IPv4 and IPv6 address\n"+
		"of an interface that is up, the default gateways, the hostname and the first two nameservers")
	fs.BoolVar(&o.dryRun, "dry-run", false, "print the files, their sizes and the command line, and load nothing (needs no root)")
	if code := parseFlags(fs, usageText{chainloadSynopsis, chainloadAbout, map[string]string{"append": "ARGS"}}, args, stdout, stderr); code >= 0 {
		return code
	}
	fail := func(format string, a ...any) int {
		return usageFailed(stderr, "chainload", chainloadSynopsis, fmt.Errorf(format, a...))
	}
	switch fs.NArg() {
	case 0:
		return fail("KERNEL and INITRAMFS are missing: give the bootstrap's bzImage and its initramfs")
	case 1:
		return fail("INITRAMFS is missing: give the bootstrap's initramfs after KERNEL")
	case 2:
	default:
		return fail("two arguments expected, KERNEL and INITRAMFS, got %d (flags go before them)", fs.NArg())
	}
	o.kernel, o.initramfs = fs.Arg(0), fs.Arg(1)
	// The init's own parser: a value it would refuse stops here, an
	// unknown homestaker.* key is a warning, as at boot.
	_, problems := config.Parse(o.appendArgs, config.Defaults())
	for _, p := range problems {
		if !p.Unknown {
			return fail("--append: %v", p)
		}
		fmt.Fprintf(stderr, "homestaker chainload: warning: --append: %v\n", p)
	}
	if err := chainload(&o, stdout, stderr); err != nil {
		fmt.Fprintf(stderr, "homestaker chainload: %v\n", err)
		return exitCheck
	}
	return exitOK
}

// chainload checks the files and the command line, then (unless dry-run)
// loads and hands over. It returns only on refusal or failure, or after a
// dry run or a handover to systemd.
func chainload(o *chainloadOptions, stdout, stderr io.Writer) error {
	kernel, bz, err := openKernel(o.kernel)
	if err != nil {
		return err
	}
	defer kernel.Close()
	initrd, isize, err := openInitramfs(o.initramfs)
	if err != nil {
		return err
	}
	defer initrd.Close()

	procLine, err := os.ReadFile(o.host.procCmdline)
	if err != nil {
		return fmt.Errorf("reading the running kernel's command line for its console=: %v", err)
	}
	var ips []string
	if o.keepNetwork {
		n, err := readHostNetwork()
		if err != nil {
			return fmt.Errorf("--keep-network: %v", err)
		}
		ips = ipParams(n)
		if len(ips) == 0 {
			fmt.Fprintln(stderr, "homestaker chainload: warning: --keep-network found no interface that is up with a global address; the bootstrap configures the network itself")
		}
		for _, w := range shadowedIPs(ips) {
			fmt.Fprintf(stderr, "homestaker chainload: warning: %s\n", w)
		}
	}
	cmdline := chainloadCmdline(consoleParams(string(procLine)), ips, o.appendArgs)
	// kexec counts the terminating NUL against the header's limit.
	if len(cmdline)+1 > int(bz.CmdlineSize) {
		return fmt.Errorf("refusing: the command line is %d bytes, %s takes at most %d; shorten --append", len(cmdline), o.kernel, int(bz.CmdlineSize)-1)
	}

	fmt.Fprintf(stdout, "kernel:    %s (%d bytes, x86 bzImage, boot protocol %s)\n", o.kernel, bz.Size, bz.VersionString())
	fmt.Fprintf(stdout, "initramfs: %s (%d bytes)\n", o.initramfs, isize)
	fmt.Fprintf(stdout, "cmdline:   %s\n", cmdline)
	if o.dryRun {
		fmt.Fprintln(stdout, "dry run: nothing loaded")
		return nil
	}
	if o.host.geteuid() != 0 {
		return errors.New("run as root: loading a kernel needs CAP_SYS_BOOT (sudo homestaker chainload ...)")
	}

	k, err := handover.Load(o.kernel, kernel, initrd, cmdline)
	if err != nil {
		if mode := lockdownMode(readOptional(lockdownFile)); mode != "" && !strings.Contains(err.Error(), "signed") {
			return fmt.Errorf("%v\nthe running kernel is locked down (%s): it loads only a kernel signed by a key it trusts; sign the bootstrap kernel (sbsign with a key in the machine's db or MOK) or turn Secure Boot off", err, mode)
		}
		return err
	}
	if k.Syscall == handover.SyscallLoad {
		fmt.Fprintf(stdout, "loaded with %s (%s refused: %v)\n", k.Syscall, handover.SyscallFileLoad, k.Refused)
	} else {
		fmt.Fprintf(stdout, "loaded with %s\n", k.Syscall)
	}
	return handOver(stdout, stderr)
}

// handOver boots the loaded kernel: through systemd when it is PID 1, so
// that services stop and filesystems unmount first; otherwise directly.
func handOver(stdout, stderr io.Writer) error {
	if strings.TrimSpace(string(readOptional(pid1Comm))) == "systemd" {
		fmt.Fprintln(stdout, "systemd is PID 1: systemctl kexec (services stop and filesystems unmount, then the bootstrap starts)")
		cmd := exec.Command("systemctl", "kexec")
		cmd.Stdout, cmd.Stderr = stdout, stderr
		if err := cmd.Run(); err != nil {
			unloadKexec()
			return fmt.Errorf("systemctl kexec: %v; the loaded kernel was unloaded and this system runs on", err)
		}
		return nil
	}
	fmt.Fprintln(stdout, "syncing and rebooting into the bootstrap (reboot(KEXEC))")
	unix.Sync()
	err := unix.Reboot(unix.LINUX_REBOOT_CMD_KEXEC)
	unloadKexec()
	return fmt.Errorf("reboot(KEXEC): %v; the loaded kernel was unloaded and this system runs on", err)
}

// unloadKexec drops a loaded kernel, whichever call loaded it: both use
// the same slot.
func unloadKexec() {
	_ = unix.KexecFileLoad(-1, -1, "", unix.KEXEC_FILE_UNLOAD)
}

func readOptional(path string) []byte {
	b, _ := os.ReadFile(path)
	return b
}

// openKernel opens a kernel that kexec can boot, by the init's own check.
func openKernel(path string) (*os.File, *kexectree.BzImage, error) {
	f, _, err := openRegular("KERNEL", path)
	if err != nil {
		return nil, nil, err
	}
	bz, err := kexectree.ReadBzImage(f)
	var notBz *kexectree.NotBzImageError
	switch {
	case errors.As(err, &notBz):
		err = fmt.Errorf("refusing: KERNEL %s is not an x86 bzImage: %v", path, err)
		if notBz.Initramfs {
			err = fmt.Errorf("%v; KERNEL goes first, then INITRAMFS", err)
		}
	case err != nil:
		err = fmt.Errorf("reading KERNEL %s: %v", path, err)
	default:
		if berr := bz.Bootable(); berr != nil {
			err = fmt.Errorf("refusing: KERNEL %s: %v", path, berr)
		}
	}
	if err != nil {
		f.Close()
		return nil, nil, err
	}
	return f, bz, nil
}

func openInitramfs(path string) (*os.File, int64, error) {
	f, size, err := openRegular("INITRAMFS", path)
	if err != nil {
		return nil, 0, err
	}
	if size == 0 {
		err = fmt.Errorf("refusing: INITRAMFS %s is empty", path)
	} else if _, bzErr := kexectree.ReadBzImage(f); bzErr == nil {
		err = fmt.Errorf("refusing: INITRAMFS %s is a bzImage: KERNEL goes first, then INITRAMFS", path)
	}
	if err != nil {
		f.Close()
		return nil, 0, err
	}
	return f, size, nil
}

// openRegular opens a regular file, naming it by its role in an error.
func openRegular(role, path string) (*os.File, int64, error) {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, 0, fmt.Errorf("refusing: %s %s does not exist", role, path)
	} else if err != nil {
		return nil, 0, fmt.Errorf("refusing: %s: %v", role, err)
	}
	st, err := f.Stat()
	if err == nil && !st.Mode().IsRegular() {
		err = fmt.Errorf("%s is a %s, not a regular file", path, st.Mode().Type())
	}
	if err != nil {
		f.Close()
		return nil, 0, fmt.Errorf("refusing: %s: %v", role, err)
	}
	return f, st.Size(), nil
}

// consoleParams returns the console= parameters of a kernel command line,
// in order, as words for the next one.
func consoleParams(cmdline string) []string {
	var out []string
	for _, p := range config.Tokenize(cmdline) {
		if p.Key == "console" && p.Value != "" {
			out = append(out, "console="+quoteParam(p.Value))
		}
	}
	return out
}

func quoteParam(v string) string {
	if strings.ContainsAny(v, " \t") {
		return `"` + v + `"`
	}
	return v
}

// chainloadCmdline joins the bootstrap's command line: the carried-over
// consoles, the ip= of --keep-network, then --append, which the init reads
// last and so lets win.
func chainloadCmdline(consoles, ips []string, appendArgs string) string {
	words := append(append([]string{}, consoles...), ips...)
	if a := strings.TrimSpace(appendArgs); a != "" {
		words = append(words, a)
	}
	return strings.Join(words, " ")
}

// ifaceAddr is one global address of an interface that is up.
type ifaceAddr struct {
	Dev    string
	Prefix netip.Prefix
}

// defaultRoute is the default route of one family: its device and gateway.
type defaultRoute struct {
	Dev     string
	Gateway netip.Addr
}

// hostNetwork is what --keep-network carries over.
type hostNetwork struct {
	Addrs          []ifaceAddr // in interface order
	Route4, Route6 defaultRoute
	Hostname       string
	DNS            []netip.Addr // nameservers, the first two are used
}

// ipParams renders n as ip= parameters in the kernel's and dracut's
// syntax: per interface its IPv6 addresses, then its IPv4 ones. The
// bootstrap keeps the last ip= of each device, so IPv4 (which the tunnel
// and NTP usually need) goes last. The default gateway goes on one address
// of the interface that holds the route: the first whose network contains
// it, else the first.
func ipParams(n hostNetwork) []string {
	var devs []string
	byDev := map[string][]netip.Prefix{}
	for _, a := range n.Addrs {
		if _, ok := byDev[a.Dev]; !ok {
			devs = append(devs, a.Dev)
		}
		byDev[a.Dev] = append(byDev[a.Dev], a.Prefix)
	}
	var out []string
	for _, dev := range devs {
		for _, family := range []struct {
			is4   bool
			route defaultRoute
		}{{false, n.Route6}, {true, n.Route4}} {
			var addrs []netip.Prefix
			for _, p := range byDev[dev] {
				if p.Addr().Is4() == family.is4 {
					addrs = append(addrs, p)
				}
			}
			gwAt := -1
			if family.route.Dev == dev && family.route.Gateway.IsValid() {
				gwAt = 0
				for i, p := range addrs {
					if p.Contains(family.route.Gateway) {
						gwAt = i
						break
					}
				}
			}
			for i, p := range addrs {
				var gw netip.Addr
				if i == gwAt {
					gw = family.route.Gateway
				}
				out = append(out, ipParam(dev, p, gw, n.Hostname, n.DNS))
			}
		}
	}
	return out
}

// ipParam is one address as an ip= parameter, rendered by the init's own
// ip= code so that the bootstrap reads back exactly this: a static address
// on dev, the gateway when it is this address's, the hostname (left empty
// when the init would refuse it) and, for IPv4, up to two nameservers.
func ipParam(dev string, p netip.Prefix, gw netip.Addr, hostname string, dns []netip.Addr) string {
	c := config.IPConfig{Mode: config.IPStatic, Device: dev, Client: p, Gateway: gw, Hostname: validHostname(hostname)}
	if p.Addr().Is4() {
		c.DNS = dns[:min(len(dns), 2)]
	}
	return "ip=" + c.String()
}

// validHostname is h when ip='s hostname field may hold it (the init's
// rule) and it names this machine, else "". "(none)", the kernel's name
// for no name, fails the rule.
func validHostname(h string) string {
	if h == "localhost" || hostname.CheckKernel(h) != "" {
		return ""
	}
	return h
}

// shadowedIPs says which ip= the bootstrap will not apply: it keeps one
// per device, the last.
func shadowedIPs(ips []string) []string {
	last := map[string]string{}
	var devs []string
	count := map[string]int{}
	for _, w := range ips {
		c, err := config.ParseIP(strings.TrimPrefix(w, "ip="))
		if err != nil {
			continue
		}
		if count[c.Device] == 0 {
			devs = append(devs, c.Device)
		}
		count[c.Device]++
		last[c.Device] = w
	}
	var out []string
	for _, d := range devs {
		if count[d] > 1 {
			out = append(out, fmt.Sprintf("%s has %d addresses; the bootstrap applies one ip= per device, the last: %s", d, count[d], last[d]))
		}
	}
	return out
}

// nameservers returns the nameserver addresses of a resolv.conf, without
// loopback ones (a local stub resolver does not survive the kexec).
func nameservers(resolvConf []byte) []netip.Addr {
	var out []netip.Addr
	for _, line := range strings.Split(string(resolvConf), "\n") {
		f := strings.Fields(line)
		if len(f) < 2 || f[0] != "nameserver" {
			continue
		}
		a, err := netip.ParseAddr(f[1])
		if err != nil {
			continue
		}
		a = a.WithZone("").Unmap()
		if a.IsLoopback() || a.IsUnspecified() {
			continue
		}
		out = append(out, a)
	}
	return out
}

// lockdownMode is the active mode in /sys/kernel/security/lockdown
// ("none [integrity] confidentiality"), or "" when none.
func lockdownMode(b []byte) string {
	s := string(b)
	i, j := strings.IndexByte(s, '['), strings.IndexByte(s, ']')
	if i < 0 || j < i || s[i+1:j] == "none" {
		return ""
	}
	return s[i+1 : j]
}

// readHostNetwork reads the addresses and default routes through netlink,
// the hostname and the nameservers.
func readHostNetwork() (hostNetwork, error) {
	var n hostNetwork
	links, err := netlink.LinkList()
	if err != nil {
		return n, fmt.Errorf("listing interfaces: %v", err)
	}
	names := map[int]string{}
	for _, l := range links {
		a := l.Attrs()
		names[a.Index] = a.Name
		up := a.Flags&net.FlagUp != 0 && (a.OperState == netlink.OperUp || a.OperState == netlink.OperUnknown)
		if !up || a.Flags&net.FlagLoopback != 0 {
			continue
		}
		addrs, err := netlink.AddrList(l, netlink.FAMILY_ALL)
		if err != nil {
			return n, fmt.Errorf("addresses of %s: %v", a.Name, err)
		}
		for _, ad := range addrs {
			if ad.Scope != unix.RT_SCOPE_UNIVERSE || ad.Flags&(unix.IFA_F_TEMPORARY|unix.IFA_F_TENTATIVE|unix.IFA_F_DADFAILED) != 0 {
				continue
			}
			ip, ok := netip.AddrFromSlice(ad.IP)
			if !ok {
				continue
			}
			ones, _ := ad.Mask.Size()
			n.Addrs = append(n.Addrs, ifaceAddr{Dev: a.Name, Prefix: netip.PrefixFrom(ip.Unmap(), ones)})
		}
	}
	if n.Route4, err = readDefaultRoute(netlink.FAMILY_V4, names); err != nil {
		return n, err
	}
	if n.Route6, err = readDefaultRoute(netlink.FAMILY_V6, names); err != nil {
		return n, err
	}
	n.Hostname, _ = os.Hostname()
	for _, p := range resolvConfs {
		if n.DNS = nameservers(readOptional(p)); len(n.DNS) > 0 {
			break
		}
	}
	return n, nil
}

// readDefaultRoute returns the main table's default route of a family
// with the lowest metric, or none.
func readDefaultRoute(family int, names map[int]string) (defaultRoute, error) {
	routes, err := netlink.RouteList(nil, family)
	if err != nil {
		return defaultRoute{}, fmt.Errorf("listing routes: %v", err)
	}
	var best defaultRoute
	metric := -1
	for _, r := range routes {
		if r.Dst != nil {
			if ones, _ := r.Dst.Mask.Size(); ones != 0 {
				continue
			}
		}
		gw, ok := netip.AddrFromSlice(r.Gw)
		if !ok || names[r.LinkIndex] == "" {
			continue
		}
		if metric < 0 || r.Priority < metric {
			best, metric = defaultRoute{Dev: names[r.LinkIndex], Gateway: gw.Unmap()}, r.Priority
		}
	}
	return best, nil
}
