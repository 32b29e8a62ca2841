package vmtest

import (
	"bufio"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/pem"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/homestaker/homestaker-boot/init/wgconf"
)

// A real LAN in a network namespace of the test: dnsmasq hands out
// 2-minute leases on a tap device that QEMU uses, and answers DNS for the
// hub's name; the hub is wireguard-go with wg(8), in the same namespace.
// The boot stops at its banner (no JWT) with the tunnel up. Over three
// leases' time the node renews (dnsmasq logs each DHCPREQUEST/DHCPACK, the
// console a line each) and keeps its address; meanwhile the hub moves to a
// new address under its name, the node resolves it again once the
// handshake is stale, and at the end OpenSSH's ssh, from the hub, logs in
// to the rescue server through the tunnel and reads the lease's times
// from the report.
func TestLeaseRenewedAndHubFollowed(t *testing.T) {
	ns := fmt.Sprintf("hslease%d", os.Getpid()%100000)
	sh := func(args ...string) string {
		t.Helper()
		out, err := exec.Command("ip", append([]string{"netns", "exec", ns}, args...)...).CombinedOutput()
		if err != nil {
			t.Fatalf("%s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return string(out)
	}
	if out, err := exec.Command("ip", "netns", "add", ns).CombinedOutput(); err != nil {
		t.Skipf("no network namespace (needs root): %v %s", err, out)
	}
	t.Cleanup(func() { exec.Command("ip", "netns", "del", ns).Run() })
	sh("ip", "link", "set", "lo", "up")
	sh("ip", "tuntap", "add", "dev", "tap0", "mode", "tap")
	sh("ip", "addr", "add", "10.0.3.1/24", "dev", "tap0")
	sh("ip", "addr", "add", "10.0.3.2/24", "dev", "tap0") // the hub, before it moves
	sh("ip", "link", "set", "tap0", "up")

	dir := t.TempDir()
	hosts := filepath.Join(dir, "hosts")
	writeHosts := func(addr string) {
		if err := os.WriteFile(hosts, []byte(addr+" hub.lease.test\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	writeHosts("10.0.3.2")

	// The hub: its UAPI socket's name is global, its interface is not.
	hubKey, err := wgconf.GeneratePrivateKey()
	if err != nil {
		t.Fatal(err)
	}
	keyFile := filepath.Join(dir, "hub.key")
	if err := os.WriteFile(keyFile, []byte(hubKey.String()+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	wgIf := ns
	hub := exec.Command("ip", "netns", "exec", ns, "wireguard-go", "-f", wgIf)
	hub.Env = append(os.Environ(), "WG_I_PREFER_BUGGY_USERSPACE_TO_POLISHED_KMOD=1")
	if err := hub.Start(); err != nil {
		t.Fatalf("wireguard-go: %v", err)
	}
	t.Cleanup(func() { hub.Process.Kill(); hub.Wait() })
	for i := 0; ; i++ {
		if exec.Command("ip", "netns", "exec", ns, "ip", "link", "show", wgIf).Run() == nil {
			break
		}
		if i > 100 {
			t.Fatal("wireguard-go made no interface")
		}
		time.Sleep(100 * time.Millisecond)
	}
	port := 51820
	sh("wg", "set", wgIf, "private-key", keyFile, "listen-port", strconv.Itoa(port))
	sh("ip", "addr", "add", "10.99.0.1/24", "dev", wgIf)
	sh("ip", "link", "set", wgIf, "up")

	d := PrepareDisk(t, "--wg-address", "10.99.0.2/32", "--wg-peer-public-key", hubKey.PublicKey().String(),
		"--wg-endpoint", fmt.Sprintf("hub.lease.test:%d", port), "--wg-allowed-ips", "10.99.0.0/24", "--wg-keepalive", "25")
	sh("wg", "set", wgIf, "peer", nodeKey(t, d, "secrets/wireguard/wg0.conf").String(), "allowed-ips", "10.99.0.2/32")
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	signer, _ := ssh.NewSignerFromKey(priv)
	d.WriteFile("secrets/ssh/authorized_keys", string(ssh.MarshalAuthorizedKey(signer.PublicKey())), 0o600)
	blk, err := ssh.MarshalPrivateKey(priv, "")
	if err != nil {
		t.Fatal(err)
	}
	sshKey := filepath.Join(dir, "id_ed25519")
	if err := os.WriteFile(sshKey, pem.EncodeToMemory(blk), 0o600); err != nil {
		t.Fatal(err)
	}
	hostKey := volumeHostKey(t, d)
	knownHosts := filepath.Join(dir, "known_hosts")
	os.WriteFile(knownHosts, []byte("10.99.0.2 "+hostKey.Type()+" "+base64.StdEncoding.EncodeToString(hostKey.Marshal())+"\n"), 0o644)
	d.Remove("lighthouse/jwt.hex")

	dnsmasq := exec.Command("ip", "netns", "exec", ns, "dnsmasq", "--keep-in-foreground", "--log-facility=-", "--conf-file=/dev/null",
		"--user=root", "--interface=tap0", "--bind-interfaces", "--dhcp-range=10.0.3.50,10.0.3.99,2m",
		"--dhcp-leasefile="+filepath.Join(dir, "leases"), "--no-hosts", "--no-resolv", "--addn-hosts="+hosts, "--pid-file=")
	stderr, err := dnsmasq.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := dnsmasq.Start(); err != nil {
		t.Fatalf("dnsmasq: %v", err)
	}
	t.Cleanup(func() { dnsmasq.Process.Kill(); dnsmasq.Wait() })
	var mu sync.Mutex
	var dlog []string
	go func() {
		s := bufio.NewScanner(stderr)
		for s.Scan() {
			mu.Lock()
			dlog = append(dlog, s.Text())
			mu.Unlock()
		}
	}()
	count := func(s string) int {
		mu.Lock()
		defer mu.Unlock()
		n := 0
		for _, l := range dlog {
			if strings.Contains(l, s) {
				n++
			}
		}
		return n
	}

	nic := "tap,ifname=tap0,script=no,downscript=no,model=virtio-net-pci"
	vm := start(t, "ip netns exec "+ns+" qemu-system-x86_64 -accel "+bench.accel+" -cpu max -smp 2 -m 2G -nographic -no-reboot -nic "+nic,
		bench.kernel, stage2Initramfs(t), []string{"homestaker.next=initramfs:/next", "homestaker.wg=required", "homestaker.ntp=10.0.3.1"}, Drive(d.Path))
	out := expectStop(t, vm, "secrets", "lighthouse", "rescue SSH on 10.99.0.2:22")
	if !strings.Contains(out, "by DHCP") {
		t.Errorf("no DHCP lease on the console")
	}

	// Three leases' time: a renewal at each T1, 60 seconds apart; the hub
	// moves after the second.
	const renewals = 6
	seen := 0
	for seen < 2 {
		vm.Expect("renewed with 10.0.3.1")
		seen++
	}
	moved := time.Now()
	sh("ip", "addr", "del", "10.0.3.2/24", "dev", "tap0")
	sh("ip", "addr", "add", "10.0.3.3/24", "dev", "tap0")
	writeHosts("10.0.3.3")
	dnsmasq.Process.Signal(syscall.SIGHUP)
	out = vm.Expect(fmt.Sprintf("Endpoint hub.lease.test:%d resolves to 10.0.3.3:%d now", port, port))
	seen += strings.Count(out, "renewed with 10.0.3.1")
	for seen < renewals {
		vm.Expect("renewed with 10.0.3.1")
		seen++
	}

	// The boot's own discovers may be several (offers late under TCG);
	// after the first acknowledgement there must be none: the address is
	// kept, never lost and sought again.
	mu.Lock()
	acked, rediscovered := false, 0
	for _, l := range dlog {
		acked = acked || strings.Contains(l, "DHCPACK(tap0)")
		if acked && strings.Contains(l, "DHCPDISCOVER(tap0)") {
			rediscovered++
		}
	}
	mu.Unlock()
	if rediscovered > 0 {
		t.Errorf("dnsmasq saw %d discovers after the lease, want none (the address kept)", rediscovered)
	}
	if n := count("DHCPACK(tap0)"); n < 1+renewals {
		t.Errorf("dnsmasq acknowledged %d requests, want the lease and %d renewals", n, renewals)
	}
	mu.Lock()
	t.Logf("dnsmasq:\n%s", strings.Join(dlog, "\n"))
	mu.Unlock()

	// The node's handshake with the hub at its new address.
	hs := ""
	for i := 0; i < 60; i++ {
		hs = strings.Fields(sh("wg", "show", wgIf, "latest-handshakes") + " x 0")[1]
		if v, _ := strconv.ParseInt(hs, 10, 64); v >= moved.Unix() {
			break
		}
		time.Sleep(time.Second)
	}
	if v, _ := strconv.ParseInt(hs, 10, 64); v < moved.Unix() {
		t.Errorf("no handshake since the hub moved (latest %s)", hs)
	}
	rep := sh("ssh", "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=yes", "-o", "UserKnownHostsFile="+knownHosts,
		"-o", "ConnectTimeout=30", "-i", sshKey, "root@10.99.0.2", "cat /run/homestaker/report.json")
	for _, want := range []string{`"t1":`, `"t2":`, `"expires":`, `"obtained":`} {
		if !strings.Contains(rep, want) {
			t.Errorf("the report's lease lacks %s:\n%s", want, rep)
		}
	}
	vm.Console.SendLine("poweroff")
	if err := vm.Wait(); err != nil {
		t.Errorf("VM: %v", err)
	}
}
