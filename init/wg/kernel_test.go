package wg

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/homestaker/homestaker-boot/init/plan"
	"github.com/homestaker/homestaker-boot/init/report"
	"github.com/homestaker/homestaker-boot/init/wgconf"
)

func TestMissingTUN(t *testing.T) {
	t.Parallel()
	tunPath := filepath.Join(t.TempDir(), "no-tun")
	conf := nodeConf(genKey(t), wgconf.Peer{PublicKey: genKey(t).PublicKey(), Endpoint: &wgconf.Endpoint{Host: "192.0.2.1", Port: 51820}})
	_, err := Up(context.Background(), conf, Options{tunPath: tunPath}, nil)
	var f *report.Failure
	if !errors.As(err, &f) {
		t.Fatalf("error %T %v, want a *report.Failure", err, err)
	}
	if !strings.Contains(f.Found, tunPath+" does not exist") || !strings.Contains(f.Action, "tun kernel module") {
		t.Errorf("failure %+v", f)
	}
}

// netnsEnv marks the test binary re-run inside a new network namespace.
const netnsEnv = "HOMESTAKER_WG_TEST_NETNS"

// inNetns re-runs the calling test in a new network namespace (all of the
// process: wireguard-go's goroutines run on any thread) and reports
// whether the caller is that run. It skips without root.
func inNetns(t *testing.T) bool {
	t.Helper()
	if os.Getenv(netnsEnv) != "" {
		return true
	}
	if os.Geteuid() != 0 {
		t.Skip("needs root: a network namespace and a kernel TUN")
	}
	if _, err := os.Stat("/dev/net/tun"); err != nil {
		t.Skipf("no TUN: %v", err)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^"+t.Name()+"$", "-test.v", "-test.count=1")
	cmd.Env = append(os.Environ(), netnsEnv+"=1")
	cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWNET}
	out, err := cmd.CombinedOutput()
	if errors.Is(err, syscall.EPERM) || errors.Is(err, syscall.EINVAL) {
		t.Skipf("cannot create a network namespace: %v", err)
	}
	t.Logf("in a new network namespace:\n%s", out)
	if err != nil {
		t.Fatalf("the test failed in its network namespace: %v", err)
	}
	if !strings.Contains(string(out), "--- PASS: "+t.Name()) {
		t.Fatalf("the test did not run in its network namespace")
	}
	return false
}

// underlay gives the namespace what the network stage would have set up:
// lo, and eth0 (a TUN without a reader: no carrier, but it takes
// addresses and routes) with 192.0.2.2/24 and a default route via
// 192.0.2.1. The server's address 198.51.100.1 sits on lo: the local
// table delivers it before the main table's host route is consulted.
func underlay(t *testing.T) {
	t.Helper()
	lo, err := netlink.LinkByName("lo")
	if err != nil {
		t.Fatal(err)
	}
	must(t, netlink.LinkSetUp(lo))
	must(t, netlink.AddrAdd(lo, &netlink.Addr{IPNet: ipNet(netip.MustParsePrefix("198.51.100.1/32"))}))
	eth := &netlink.Tuntap{LinkAttrs: netlink.LinkAttrs{Name: "eth0"}, Mode: netlink.TUNTAP_MODE_TUN}
	must(t, netlink.LinkAdd(eth))
	link, err := netlink.LinkByName("eth0")
	if err != nil {
		t.Fatal(err)
	}
	must(t, netlink.AddrAdd(link, &netlink.Addr{IPNet: ipNet(netip.MustParsePrefix("192.0.2.2/24"))}))
	must(t, netlink.LinkSetUp(link))
	must(t, netlink.RouteAdd(&netlink.Route{LinkIndex: link.Attrs().Index, Gw: net.IPv4(192, 0, 2, 1)}))
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// tableRoutes lists the routes of a table as "dst [via gw] dev name",
// without those the kernel adds for addresses.
func tableRoutes(t *testing.T, table int) []string {
	t.Helper()
	var out []string
	for _, fam := range []int{netlink.FAMILY_V4, netlink.FAMILY_V6} {
		rs, err := netlink.RouteListFiltered(fam, &netlink.Route{Table: table}, netlink.RT_FILTER_TABLE)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range rs {
			if r.Protocol == unix.RTPROT_KERNEL {
				continue
			}
			name := "?"
			if l, err := netlink.LinkByIndex(r.LinkIndex); err == nil {
				name = l.Attrs().Name
			}
			s := "default"
			if r.Dst != nil {
				if ones, _ := r.Dst.Mask.Size(); ones > 0 {
					s = r.Dst.String()
				}
			}
			if r.Gw != nil {
				s += " via " + r.Gw.String()
			}
			out = append(out, s+" dev "+name)
		}
	}
	return out
}

func hasAll(have []string, want ...string) []string {
	var missing []string
	for _, w := range want {
		found := false
		for _, h := range have {
			if h == w {
				found = true
			}
		}
		if !found {
			missing = append(missing, w)
		}
	}
	return missing
}

// TestKernelTUN brings wg0 up for real, on a kernel TUN in a network
// namespace, with a default route through the tunnel, against a server on
// netstack; then a TCP connection from the kernel's stack goes through it.
func TestKernelTUN(t *testing.T) {
	if !inNetns(t) {
		return
	}
	underlay(t)
	if gw, link := defaultGateway(); gw != netip.MustParseAddr("192.0.2.1") || link != "eth0" {
		t.Errorf("defaultGateway() = %v, %q; want 192.0.2.1, eth0", gw, link)
	}

	priv, psk := genKey(t), genKey(t)
	srv := startServer(t, serverAddr, &psk, map[wgconf.Key]netip.Addr{priv.PublicKey(): nodeAddr})
	conf := nodeConf(priv, wgconf.Peer{
		PublicKey: srv.pub(), PresharedKey: &psk, PersistentKeepalive: 25,
		AllowedIPs: []netip.Prefix{netip.MustParsePrefix("0.0.0.0/0"), netip.MustParsePrefix("::/0")},
		Endpoint:   &wgconf.Endpoint{Host: "198.51.100.1", Port: srv.port},
	})
	conf.Interface.Addresses = append(conf.Interface.Addresses, netip.MustParsePrefix("fd00:99::2/128"))
	conf.Interface.DNS = addrs("10.99.0.1")
	conf.Interface.DNSSearch = []string{"vpn.internal"}
	resolv := filepath.Join(t.TempDir(), "resolv.conf")
	must(t, os.WriteFile(resolv, []byte("nameserver 192.0.2.1\n"), 0o644))

	var tun *Tunnel
	out, st, f := stage(t, 10*time.Second, func(ctx context.Context, rec *plan.Record) error {
		var err error
		tun, err = Up(ctx, conf, Options{ResolvConf: resolv, Gateway: netip.MustParseAddr("192.0.2.1"), GatewayLink: "eth0"}, rec)
		if err != nil {
			return err
		}
		_, err = tun.WaitHandshake(ctx)
		return err
	})
	t.Logf("console:\n%s", out)
	if f != nil {
		t.Fatalf("failed: %v", f)
	}

	link, err := netlink.LinkByName("wg0")
	if err != nil {
		t.Fatal(err)
	}
	if mtu := link.Attrs().MTU; mtu != DefaultMTU {
		t.Errorf("MTU %d, want %d", mtu, DefaultMTU)
	}
	var have []string
	for _, fam := range []int{netlink.FAMILY_V4, netlink.FAMILY_V6} {
		as, err := netlink.AddrList(link, fam)
		must(t, err)
		for _, a := range as {
			have = append(have, a.IPNet.String())
		}
	}
	if m := hasAll(have, "10.99.0.2/32", "fd00:99::2/128"); m != nil {
		t.Errorf("addresses %v, missing %v", have, m)
	}
	routes := tableRoutes(t, unix.RT_TABLE_MAIN)
	if m := hasAll(routes, "198.51.100.1/32 via 192.0.2.1 dev eth0", "0.0.0.0/1 dev wg0", "128.0.0.0/1 dev wg0", "::/1 dev wg0", "8000::/1 dev wg0", "default via 192.0.2.1 dev eth0"); m != nil {
		t.Errorf("main table %v, missing %v", routes, m)
	}
	if b, _ := os.ReadFile(resolv); !strings.Contains(string(b), "nameserver 10.99.0.1\nnameserver 192.0.2.1\n") || !strings.Contains(string(b), "search vpn.internal\n") {
		t.Errorf("resolv.conf:\n%s", b)
	}
	if !strings.Contains(st.Summary, "wg0 10.99.0.2/32,fd00:99::2/128 up, handshake with") {
		t.Errorf("summary %q", st.Summary)
	}
	assertNoSecret(t, out+reportJSON(t, st), secretsOf(conf)...)

	// The kernel's own stack, through the tunnel, to the server.
	l, err := srv.net.ListenTCPAddrPort(netip.AddrPortFrom(serverAddr, 8080))
	must(t, err)
	defer l.Close()
	go func() {
		c, err := l.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		io.Copy(c, c)
	}()
	c, err := net.DialTimeout("tcp", "10.99.0.1:8080", 5*time.Second)
	if err != nil {
		t.Fatalf("dialing the server through wg0: %v", err)
	}
	c.SetDeadline(time.Now().Add(5 * time.Second))
	fmt.Fprintf(c, "hello\n")
	buf := make([]byte, 6)
	if _, err := io.ReadFull(c, buf); err != nil || string(buf) != "hello\n" {
		t.Errorf("echo %q, %v", buf, err)
	}
	c.Close()

	must(t, tun.Close())
	// The kernel removes a TUN when its last descriptor closes, not
	// always before Close returns.
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if _, err := netlink.LinkByName("wg0"); err != nil {
			break
		}
		if time.Now().After(deadline) {
			t.Errorf("wg0 still exists 5 s after Close")
			break
		}
	}
	if m := hasAll(tableRoutes(t, unix.RT_TABLE_MAIN), "198.51.100.1/32 via 192.0.2.1 dev eth0"); m == nil {
		t.Errorf("the endpoint host route is still there after Close")
	}
	if b, _ := os.ReadFile(resolv); string(b) != "nameserver 192.0.2.1\n" {
		t.Errorf("resolv.conf after Close:\n%s", b)
	}

	// Table = 1234 and a file MTU: routes as written, in that table; the
	// handshake is not waited for here.
	conf.Name = "wg1"
	conf.Interface.Table = "1234"
	conf.Interface.MTU = 1380
	conf.Interface.DNS, conf.Interface.DNSSearch = nil, nil
	conf.Peers[0].AllowedIPs = []netip.Prefix{netip.MustParsePrefix("0.0.0.0/0"), netip.MustParsePrefix("10.98.0.0/16")}
	tun, err = Up(context.Background(), conf, Options{Gateway: netip.MustParseAddr("192.0.2.1"), GatewayLink: "eth0"}, nil)
	must(t, err)
	defer tun.Close()
	if m := hasAll(tableRoutes(t, 1234), "default dev wg1", "10.98.0.0/16 dev wg1"); m != nil {
		t.Errorf("table 1234 %v, missing %v", tableRoutes(t, 1234), m)
	}
	for _, r := range tableRoutes(t, unix.RT_TABLE_MAIN) {
		if strings.Contains(r, "wg1") || strings.HasPrefix(r, "198.51.100.1/32") {
			t.Errorf("main table has %q with Table = 1234", r)
		}
	}
	if l, err := netlink.LinkByName("wg1"); err != nil || l.Attrs().MTU != 1380 {
		t.Errorf("wg1: %v, MTU want 1380", err)
	}
}
