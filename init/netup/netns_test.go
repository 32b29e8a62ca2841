package netup

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	nip "net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/insomniacslk/dhcp/dhcpv4/server4"

	"github.com/homestaker/homestaker-boot/init/config"
	"github.com/homestaker/homestaker-boot/init/console"
	"github.com/homestaker/homestaker-boot/init/plan"
	"github.com/homestaker/homestaker-boot/init/report"
)

// The stage for real, in two network namespaces joined by a veth pair:
// the client namespace holds veth-c (and veth-d, whose peer stays down, so
// it never has a carrier); the server namespace holds vs at 10.99.0.1 with
// a DHCP server and an SNTP server from this test binary. Each side runs
// as a child process under `ip netns exec`, which also gives it a sysfs
// of its namespace; the client gets its own UTS namespace for the
// hostname. The clock is never set.

const helperEnv = "HOMESTAKER_NETUP_NETNS"

// panicEnv names a link whose goroutine the client helper makes panic.
const panicEnv = "HOMESTAKER_NETUP_PANIC"

func TestUpInNetns(t *testing.T) {
	if os.Getuid() != 0 {
		t.Skip("needs root for network namespaces")
	}
	if testing.Short() {
		t.Skip("-short")
	}
	for _, tool := range []string{"ip", "unshare"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("needs %s: %v", tool, err)
		}
	}
	cns, sns := fmt.Sprintf("hsnet%dc", os.Getpid()), fmt.Sprintf("hsnet%ds", os.Getpid())
	for _, ns := range []string{cns, sns} {
		if err := sh("ip", "netns", "add", ns); err != nil {
			t.Skipf("cannot create a network namespace: %v", err)
		}
		t.Cleanup(func() { sh("ip", "netns", "del", ns) })
	}
	for _, c := range [][]string{
		{"ip", "link", "add", "veth-c", "netns", cns, "type", "veth", "peer", "name", "vs", "netns", sns},
		{"ip", "link", "add", "veth-d", "netns", cns, "type", "veth", "peer", "name", "vd", "netns", sns},
		{"ip", "-n", sns, "addr", "add", "10.99.0.1/24", "dev", "vs"},
		{"ip", "-n", sns, "link", "set", "vs", "up"},
		{"ip", "-n", sns, "link", "set", "lo", "up"},
	} {
		if err := sh(c...); err != nil {
			t.Fatal(err)
		}
	}
	reset := func() {
		sh("ip", "-n", cns, "addr", "flush", "dev", "veth-c")
		sh("ip", "-n", cns, "link", "set", "veth-c", "down")
	}

	t.Run("no DHCP server", func(t *testing.T) {
		defer reset()
		out := client(t, cns, "ip=veth-c:dhcp ip=veth-d:dhcp homestaker.timeout.net=2")
		for _, want := range []string{
			"FAILURE network: expected an IPv4 address by DHCP on one of: veth-c, veth-d, found veth-c: carrier, ",
			" DHCP requests without an answer; veth-d: no carrier (cable unplugged?); check the cable and the DHCP server",
		} {
			if !strings.Contains(out, want) {
				t.Errorf("output lacks %q:\n%s", want, out)
			}
		}
	})

	server(t, sns)

	t.Run("DHCP", func(t *testing.T) {
		defer reset()
		start := time.Now()
		out := client(t, cns, "ip=veth-c:dhcp ip=veth-d:dhcp")
		// veth-d has no carrier: the stage must not wait for it once
		// veth-c has its lease.
		if d := time.Since(start); d > 3*time.Second {
			t.Errorf("the stage took %v", d)
		}
		st := state(t, out)
		if st.Gateway != addr("10.99.0.1") || st.GatewayLink != "veth-c" || st.Hostname != "netns-box" || len(st.DNS) != 1 || st.LeaseAfter <= 0 {
			t.Errorf("state %+v", st)
		}
		for _, want := range []string{
			"veth-c 10.99.0.50/24 by DHCP in ", "gateway 10.99.0.1, clock checked with 10.99.0.1 (offset +0.0s)",
			"veth-d: no carrier (cable unplugged?)", // a warning: ip= named it
			"HOSTNAME netns-box",
			`RESOLV "# written by homestaker-boot's network stage\nnameserver 10.99.0.1\nsearch netns.test\n"`,
			"default via 10.99.0.1 dev veth-c",
			"10.99.0.50/24 brd 10.99.0.255",
			"mtu 1400",
		} {
			if !strings.Contains(out, want) {
				t.Errorf("output lacks %q:\n%s", want, out)
			}
		}
	})

	// A bug in one link's goroutine fails that link, not the init: the
	// stage goes on with the other link, and the console has the stack.
	t.Run("panic on one link", func(t *testing.T) {
		defer reset()
		out := client(t, cns, "ip=veth-c:dhcp ip=veth-d:dhcp", panicEnv+"=veth-d")
		st := state(t, out)
		if st.GatewayLink != "veth-c" || len(st.Links) != 2 || st.Links[1].Name != "veth-d" || !strings.Contains(st.Links[1].Err, "internal error") {
			t.Errorf("state %+v", st)
		}
		for _, want := range []string{
			"veth-c 10.99.0.50/24 by DHCP in ",
			"[ WARN ] network: veth-d: internal error: assignment to entry in nil map",
			"network: internal error in bringing up veth-d: assignment to entry in nil map",
			"netup.(*run).link(", // the stack
			"please report it",
		} {
			if !strings.Contains(out, want) {
				t.Errorf("output lacks %q:\n%s", want, out)
			}
		}
	})

	t.Run("panic on the only link", func(t *testing.T) {
		defer reset()
		start := time.Now()
		out := client(t, cns, "ip=veth-c:dhcp", panicEnv+"=veth-c")
		if d := time.Since(start); d > 5*time.Second {
			t.Errorf("the stage took %v, as if it waited for the failed link", d)
		}
		for _, want := range []string{
			"FAILURE network: expected an IPv4 address by DHCP on one of: veth-c, found veth-c: internal error: assignment to entry in nil map; ",
			"netup.(*run).link(",
		} {
			if !strings.Contains(out, want) {
				t.Errorf("output lacks %q:\n%s", want, out)
			}
		}
	})

	t.Run("NTP server silent", func(t *testing.T) {
		defer reset()
		start := time.Now()
		// 192.0.2.1 is routed to the server namespace, which drops it.
		out := client(t, cns, "ip=veth-c:dhcp homestaker.ntp=192.0.2.1")
		if d := time.Since(start); d > 4*time.Second {
			t.Errorf("the stage took %v; one silent NTP server may cost 2s", d)
		}
		for _, want := range []string{
			"[ WARN ] network: no time from NTP (192.0.2.1: no answer from 192.0.2.1 within 2s); the clock says 20",
			"gateway 10.99.0.1, no NTP answer, clock not checked",
		} {
			if !strings.Contains(out, want) {
				t.Errorf("output lacks %q:\n%s", want, out)
			}
		}
	})

	t.Run("static", func(t *testing.T) {
		defer reset()
		out := client(t, cns, "ip=10.99.0.7::10.99.0.1:255.255.255.0:static-box:veth-c:none:10.99.0.1 homestaker.ntp=10.99.0.1")
		st := state(t, out)
		if st.Gateway != addr("10.99.0.1") || st.Hostname != "static-box" || len(st.Links) != 1 || !st.Links[0].Carrier {
			t.Errorf("state %+v", st)
		}
		for _, want := range []string{
			"veth-c 10.99.0.7/24 static in ", "clock checked with 10.99.0.1",
			"HOSTNAME static-box", "default via 10.99.0.1 dev veth-c",
		} {
			if !strings.Contains(out, want) {
				t.Errorf("output lacks %q:\n%s", want, out)
			}
		}
	})
}

func addr(s string) nip.Addr { return nip.MustParseAddr(s) }

func sh(args ...string) error {
	out, err := exec.Command(args[0], args[1:]...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s: %v: %s", strings.Join(args, " "), err, out)
	}
	return nil
}

// server starts the helper's DHCP and SNTP servers in ns.
func server(t *testing.T, ns string) {
	cmd := exec.Command("ip", "netns", "exec", ns, os.Args[0], "-test.run=^TestNetnsHelper$")
	cmd.Env = append(os.Environ(), helperEnv+"=server")
	cmd.Stderr = os.Stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	ready := make(chan error, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if sc.Text() == "READY" {
				ready <- nil
				io.Copy(io.Discard, stdout)
				return
			}
		}
		ready <- fmt.Errorf("the server helper ended before it was ready")
	}()
	select {
	case err := <-ready:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the server helper is not ready after 10s")
	}
}

// client runs the stage in ns with the command line and env and returns
// what the helper printed.
func client(t *testing.T, ns, cmdline string, env ...string) string {
	t.Helper()
	cmd := exec.Command("ip", "netns", "exec", ns, "unshare", "--uts", os.Args[0], "-test.run=^TestNetnsHelper$")
	cmd.Env = append(os.Environ(), helperEnv+"=client", "HOMESTAKER_NETUP_CMDLINE="+cmdline)
	cmd.Env = append(cmd.Env, env...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("client helper: %v\n%s", err, out)
	}
	t.Logf("%s\n%s", cmdline, out)
	return string(out)
}

func state(t *testing.T, out string) State {
	t.Helper()
	for _, line := range strings.Split(out, "\n") {
		if j, ok := strings.CutPrefix(line, "STATE "); ok {
			var st State
			if err := json.Unmarshal([]byte(j), &st); err != nil {
				t.Fatal(err)
			}
			return st
		}
	}
	t.Fatalf("no state in the output:\n%s", out)
	return State{}
}

// TestNetnsHelper is the child process of TestUpInNetns.
func TestNetnsHelper(t *testing.T) {
	switch os.Getenv(helperEnv) {
	case "server":
		serveHelper(t)
	case "client":
		clientHelper(t)
	default:
		t.Skip("run by TestUpInNetns")
	}
}

func serveHelper(t *testing.T) {
	me := net.ParseIP("10.99.0.1")
	yours := net.ParseIP("10.99.0.50")
	srv, err := server4.NewServer("vs", nil, func(conn net.PacketConn, peer net.Addr, m *dhcpv4.DHCPv4) {
		var mt dhcpv4.MessageType
		switch m.MessageType() {
		case dhcpv4.MessageTypeDiscover:
			mt = dhcpv4.MessageTypeOffer
		case dhcpv4.MessageTypeRequest:
			mt = dhcpv4.MessageTypeAck
		default:
			return
		}
		resp, err := dhcpv4.NewReplyFromRequest(m,
			dhcpv4.WithMessageType(mt),
			dhcpv4.WithYourIP(yours),
			dhcpv4.WithServerIP(me),
			dhcpv4.WithOption(dhcpv4.OptServerIdentifier(me)),
			dhcpv4.WithOption(dhcpv4.OptSubnetMask(net.CIDRMask(24, 32))),
			dhcpv4.WithOption(dhcpv4.OptRouter(me)),
			dhcpv4.WithOption(dhcpv4.OptDNS(me)),
			dhcpv4.WithOption(dhcpv4.OptNTPServers(me)),
			dhcpv4.WithOption(dhcpv4.OptHostName("netns-box")),
			dhcpv4.WithOption(dhcpv4.OptDomainName("netns.test")),
			dhcpv4.WithOption(dhcpv4.OptGeneric(dhcpv4.OptionInterfaceMTU, []byte{0x05, 0x78})), // 1400
			dhcpv4.WithOption(dhcpv4.OptIPAddressLeaseTime(time.Hour)),
		)
		if err != nil {
			return
		}
		conn.WriteTo(resp.ToBytes(), peer)
	})
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve()
	pc, err := net.ListenPacket("udp4", "10.99.0.1:123")
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		buf := make([]byte, 512)
		for {
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			for _, p := range serverAhead(0, nil)(buf[:n]) {
				pc.WriteTo(p, from)
			}
		}
	}()
	fmt.Println("READY")
	select {} // until killed
}

func clientHelper(t *testing.T) {
	cfg, problems := config.Parse(os.Getenv("HOMESTAKER_NETUP_CMDLINE"), config.Defaults())
	if len(problems) > 0 {
		t.Fatal(problems)
	}
	resolv := filepath.Join(t.TempDir(), "resolv.conf")
	rep := &report.Report{}
	runner := &plan.Runner{Console: console.New(os.Stdout, nil), Report: rep, Uptime: func() time.Duration { return 0 }}
	o := Options{ResolvConf: resolv}
	if name := os.Getenv(panicEnv); name != "" {
		o.linkStarted = func(link string) {
			if link == name {
				var m map[string]bool
				m[link] = true // a runtime error, as a real bug would be
			}
		}
	}
	var st *State
	f := runner.Run(context.Background(), []plan.Stage{{Name: "network", Timeout: cfg.Timeouts.Net, TimeoutKey: "homestaker.timeout.net",
		Run: func(ctx context.Context, rec *plan.Record) error {
			var err error
			st, err = Up(ctx, cfg, rec, o)
			return err
		}}})
	if f != nil {
		fmt.Println("FAILURE " + f.Error())
		return
	}
	j, _ := json.Marshal(st)
	fmt.Println("STATE " + string(j))
	h, _ := os.Hostname()
	fmt.Println("HOSTNAME " + h)
	b, _ := os.ReadFile(resolv)
	fmt.Printf("RESOLV %q\n", b)
	for _, c := range [][]string{{"ip", "route"}, {"ip", "addr", "show", "veth-c"}} {
		out, _ := exec.Command(c[0], c[1:]...).CombinedOutput()
		fmt.Printf("%s", out)
	}
}
