package vmtest

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/homestaker/homestaker-boot/vmtest/fixture"
)

// The operator's tools on their laptop: Debian's OpenSSH scp (SFTP, its
// default since 9.0) copies a fixed jwt.hex and a kexec tree into the
// rescue server through the tunnel, sftp -b lists them, and `ssh node
// homestaker retry` takes the boot on to the stage 2. OpenSSH checks the
// node's host key against a known_hosts made from the volume's .pub, and
// refuses a known_hosts with another key. Forwardings are refused.
func TestRescueOpenSSHScpSftpRetry(t *testing.T) {
	peer := StartPeer(t, "10.99.0.1")
	d := tunnelDisk(t, peer)
	d.SeedData()
	before := d.DataDigest("lighthouse/jwt.hex")
	jwt := d.ReadFile("erigon/jwt.hex") // the copy that is right
	d.Remove("lighthouse/jwt.hex")
	// The tree the node booted last (this boot takes the stage 2 from the
	// initramfs, homestaker.next).
	d.WriteFile("boot/current/kexec-boot", "the old tree\n", 0o755)
	op := newOpenSSH(t, d, forwardToRescue(t, peer))

	local := filepath.Join(op.dir, "jwt.hex")
	writeLocal(t, local, jwt)
	tree := filepath.Join(op.dir, "tree")
	writeLocal(t, filepath.Join(tree, "kexec-boot"), "#!/bin/sh\n")
	writeLocal(t, filepath.Join(tree, "modules", "note.txt"), "a nested file\n")

	vm := Boot(t, stage2Initramfs(t), []string{"homestaker.next=initramfs:/next", "homestaker.wg=required"}, Drive(d.Path))
	expectStop(t, vm, "secrets", "lighthouse", "rescue SSH on 10.99.0.2:22")
	waitRescue(t, peer)

	// Another key in known_hosts: OpenSSH refuses to go on.
	other := op.withKnownHost(t, otherHostKey(t))
	if out, err := other.run("ssh", "root@"+op.host, "true"); err == nil || !strings.Contains(out, "REMOTE HOST IDENTIFICATION HAS CHANGED") {
		t.Errorf("ssh with another host key in known_hosts: %v\n%s", err, out)
	}

	if out, err := op.run("scp", local, "root@"+op.host+":/mnt/lighthouse/jwt.hex"); err != nil {
		t.Fatalf("scp of jwt.hex: %v\n%s", err, out)
	}
	// A new kexec tree goes to the volume's top level, read-only until
	// the operator makes it writable, as the README shows.
	if out, err := op.run("ssh", "root@"+op.host, "mount -t none -o remount,bind none /run/homestaker/volume"); err != nil {
		t.Fatalf("remounting the top level writable: %v\n%s", err, out)
	}
	if out, err := op.run("scp", "-r", tree, "root@"+op.host+":/run/homestaker/volume/boot/new"); err != nil {
		t.Fatalf("scp -r of a tree: %v\n%s", err, out)
	}
	if out, err := op.run("ssh", "root@"+op.host, "cd /run/homestaker/volume/boot && rm -rf previous && mv current previous && mv new current"); err != nil {
		t.Fatalf("moving the new tree in: %v\n%s", err, out)
	}
	batch := filepath.Join(op.dir, "batch")
	writeLocal(t, batch, "ls -l /mnt/lighthouse\nls /run/homestaker/volume/boot/current/modules\n")
	out, err := op.run("sftp", "-b", batch, "root@"+op.host)
	if err != nil {
		t.Fatalf("sftp -b: %v\n%s", err, out)
	}
	for _, want := range []string{"jwt.hex", "validators", "note.txt"} {
		if !strings.Contains(out, want) {
			t.Errorf("sftp's listing lacks %s:\n%s", want, out)
		}
	}
	// Legacy scp gets told to use SFTP.
	if out, err := op.run("scp", "-O", local, "root@"+op.host+":/run/legacy.hex"); err == nil || !strings.Contains(out, "run scp without -O") {
		t.Errorf("scp -O: %v\n%s", err, out)
	}
	// Forwardings: stdio (direct-tcpip) and remote.
	if out, err := op.run("ssh", "-W", "10.99.0.2:22", "root@"+op.host); err == nil || !strings.Contains(out, "open failed") {
		t.Errorf("ssh -W: %v\n%s", err, out)
	}
	if out, err := op.run("ssh", "-o", "ExitOnForwardFailure=yes", "-R", "0:127.0.0.1:9", "root@"+op.host, "true"); err == nil || !strings.Contains(out, "remote port forwarding failed") {
		t.Errorf("ssh -R: %v\n%s", err, out)
	}

	// The retry follows the boot until the handover ends the connection.
	retry := op.command("ssh", "root@"+op.host, "homestaker retry")
	got := &syncBuffer{}
	retry.Stdout, retry.Stderr = got, got
	if err := retry.Start(); err != nil {
		t.Fatal(err)
	}
	vm.Expect("[ INFO ] retry: running the boot again from secrets")
	vm.Expect("[  OK  ] secrets:")
	expectStage2(t, vm)
	done := make(chan error, 1)
	go func() { done <- retry.Wait() }()
	select {
	case <-done:
	case <-time.After(2 * time.Minute):
		// The tunnel may close before the connection's end gets out;
		// ServerAliveInterval ends ssh well within this.
		retry.Process.Kill()
		<-done
		t.Errorf("ssh did not end within 2 minutes of the handover")
	}
	if i := strings.Index(got.String(), "tunnel wg0:"); i >= 0 {
		t.Logf("the greeting says: %s", strings.SplitN(got.String()[i:], "\n", 2)[0])
	}
	for _, want := range []string{
		"HOMESTAKER BOOT STOPPED in stage secrets", // the greeting, on stderr
		"tunnel wg0: last handshake ",
		" ago with " + peer.PublicKey()[:6],
		"homestaker retry: running the boot again",
		"[  OK  ] secrets:",
	} {
		if !strings.Contains(got.String(), want) {
			t.Errorf("ssh homestaker retry lacks %q:\n%s", want, got.String())
		}
	}

	if d.ReadFile("lighthouse/jwt.hex") != jwt {
		t.Error("the jwt.hex on the volume is not the one scp copied")
	}
	if d.ReadFile("boot/current/modules/note.txt") != "a nested file\n" || d.ReadFile("boot/previous/kexec-boot") != "the old tree\n" {
		t.Error("the tree scp -r copied is not the volume's current one, or the old one is not the previous")
	}
	d.AssertDataUnchanged(before, "lighthouse/jwt.hex")
	var console strings.Builder
	for _, l := range vm.Lines() {
		console.WriteString(l.Text + "\n")
	}
	fp := ssh.FingerprintSHA256(op.key)
	if n := strings.Count(console.String(), "sftp session started (ssh-ed25519 "+fp+")"); n < 3 {
		t.Errorf("the console logged %d sftp sessions with the operator's key %s, want 3 (scp, scp -r, sftp)", n, fp)
	}
	if !strings.Contains(console.String(), "legacy scp (scp -O) refused") {
		t.Error("the console does not log the refused scp -O")
	}
	vm.AssertNoSecrets(append(d.Secrets(), strings.TrimSpace(jwt)))
}

// openSSH runs Debian's OpenSSH client programs as the operator: their
// own key, a known_hosts holding the node's host key, no other config.
type openSSH struct {
	dir, identity, knownHosts string
	host                      string // host name in known_hosts and on the command lines
	port                      int
	key                       ssh.PublicKey
}

func newOpenSSH(t *testing.T, d *Disk, port int) *openSSH {
	t.Helper()
	if _, err := exec.LookPath("scp"); err != nil {
		t.Fatalf("OpenSSH's scp (Debian's openssh-client, in DEB_PACKAGES): %v", err)
	}
	dir := t.TempDir()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	block, err := ssh.MarshalPrivateKey(priv, "")
	if err != nil {
		t.Fatal(err)
	}
	signer, err := ssh.NewSignerFromKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	o := &openSSH{dir: dir, identity: filepath.Join(dir, "id_ed25519"), host: "homestaker-node", port: port, key: signer.PublicKey()}
	if err := os.WriteFile(o.identity, pem.EncodeToMemory(block), 0o600); err != nil {
		t.Fatal(err)
	}
	d.WriteFile("secrets/ssh/authorized_keys", "# the operator's laptop\n"+string(ssh.MarshalAuthorizedKey(o.key)), 0o600)
	o.knownHosts = filepath.Join(dir, "known_hosts")
	// The volume's .pub is what `homestaker prepare` printed.
	writeLocal(t, o.knownHosts, o.host+" "+d.ReadFile("secrets/ssh/id_ed25519.pub"))
	return o
}

// withKnownHost is o with a known_hosts that holds key for the node.
func (o *openSSH) withKnownHost(t *testing.T, key ssh.PublicKey) *openSSH {
	t.Helper()
	c := *o
	c.knownHosts = filepath.Join(o.dir, "known_hosts.other")
	writeLocal(t, c.knownHosts, o.host+" "+string(ssh.MarshalAuthorizedKey(key)))
	return &c
}

// command is prog (ssh, scp or sftp) with the options that make it check
// the host key and use only the operator's key, reaching the node at
// 127.0.0.1:port under the name o.host (HostKeyAlias: its known_hosts line).
func (o *openSSH) command(prog string, args ...string) *exec.Cmd {
	portFlag := "-P"
	if prog == "ssh" {
		portFlag = "-p"
	}
	opts := []string{"-F", "/dev/null", portFlag, fmt.Sprint(o.port), "-i", o.identity,
		"-o", "HostKeyAlias=" + o.host, "-o", "HostName=127.0.0.1",
		"-o", "StrictHostKeyChecking=yes", "-o", "UserKnownHostsFile=" + o.knownHosts, "-o", "GlobalKnownHostsFile=/dev/null",
		"-o", "IdentitiesOnly=yes", "-o", "BatchMode=yes", "-o", "ConnectTimeout=60", "-o", "ServerAliveInterval=10"}
	cmd := exec.Command(prog, append(opts, args...)...)
	// Nothing from the test machine's ~/.ssh, and no agent.
	cmd.Env = []string{"HOME=" + o.dir, "PATH=" + os.Getenv("PATH")}
	return cmd
}

// run runs prog to its end, within 3 minutes (TCG is slow), and returns
// its output.
func (o *openSSH) run(prog string, args ...string) (string, error) {
	cmd := o.command(prog, args...)
	out := &syncBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		return "", err
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		return out.String(), err
	case <-time.After(3 * time.Minute):
		cmd.Process.Kill()
		<-done
		return out.String(), fmt.Errorf("%s did not end within 3 minutes", prog)
	}
}

// forwardToRescue listens on a free port of host loopback and carries
// each connection to the node's rescue SSH server through the host peer's
// tunnel: OpenSSH needs a socket, the peer is a userspace network stack.
// The bytes still go through the node's real WireGuard.
func forwardToRescue(t *testing.T, peer *fixture.Peer) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				r, err := peer.DialContext(ctx, "tcp", "10.99.0.2:22")
				cancel()
				if err != nil {
					t.Logf("forwarder: dialing 10.99.0.2:22 through the tunnel: %v", err)
					return
				}
				defer r.Close()
				go func() { io.Copy(r, c); r.Close() }()
				io.Copy(c, r)
			}()
		}
	}()
	return l.Addr().(*net.TCPAddr).Port
}

// waitRescue waits until the rescue server accepts a connection through
// the tunnel.
func waitRescue(t *testing.T, peer *fixture.Peer) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		c, err := peer.DialContext(ctx, "tcp", "10.99.0.2:22")
		cancel()
		if err == nil {
			c.Close()
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the rescue SSH server never accepted a connection through the tunnel: %v", err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func otherHostKey(t *testing.T) ssh.PublicKey {
	t.Helper()
	pub, _, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	k, err := ssh.NewPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func writeLocal(t *testing.T, path, text string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
}
