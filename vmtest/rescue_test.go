package vmtest

import (
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
)

// Rescue SSH answers only through the tunnel. A LAN neighbour that routes
// the node's tunnel address to its LAN address (here QEMU's user network,
// forwarding a host port to 10.99.0.2:22 over the node's eth0; Linux
// answers ARP and accepts packets for a local address on any interface)
// gets no SSH server; the same key through the tunnel logs in.
func TestRescueSSHOnlyThroughTunnel(t *testing.T) {
	peer := StartPeer(t, "10.99.0.1")
	d := tunnelDisk(t, peer)
	key := rescueKey(t, d)
	hostKey := volumeHostKey(t, d)
	d.Remove("lighthouse/jwt.hex")

	lan := freeTCPPort(t)
	nic := fmt.Sprintf("%s,hostfwd=tcp:127.0.0.1:%d-10.99.0.2:22", UserNet, lan)
	vm := BootNIC(t, nic, stage2Initramfs(t), []string{"homestaker.next=initramfs:/next", "homestaker.wg=required", "homestaker.onfail=shell"}, Drive(d.Path))
	expectStop(t, vm, "secrets", "lighthouse", "rescue SSH on 10.99.0.2:22")
	failed := time.Now()

	// Through the tunnel first: the server is up.
	client, _ := rescueLogin(t, peer, hostKey, key, failed)
	client.Close()

	c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", lan), 10*time.Second)
	if err != nil {
		t.Fatalf("QEMU's forwarded port: %v", err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(20 * time.Second))
	conf := &ssh.ClientConfig{User: "root", Auth: []ssh.AuthMethod{ssh.PublicKeys(key)}, HostKeyCallback: ssh.FixedHostKey(hostKey), Timeout: 20 * time.Second}
	if sc, _, _, err := ssh.NewClientConn(c, "10.99.0.2:22", conf); err == nil {
		sc.Close()
		t.Error("logged in to the rescue server over the LAN, not the tunnel")
	} else if !strings.Contains(err.Error(), "EOF") && !strings.Contains(err.Error(), "reset") {
		t.Logf("over the LAN: %v", err)
	}
	vm.Console.SendLine("poweroff")
	if err := vm.Wait(); err != nil {
		t.Errorf("VM: %v", err)
	}
}

func freeTCPPort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}
