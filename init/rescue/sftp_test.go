package rescue

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"

	"github.com/pkg/sftp"
	"golang.org/x/crypto/ssh"
)

// TestMain is also the SFTP server program of the tests' rescue servers
// (Options.SFTPServer), as the init is in the initramfs.
func TestMain(m *testing.M) {
	if os.Getenv(sftpServerEnv) == "1" {
		if err := ServeSFTP(os.Stdin, os.Stdout); err != nil {
			fmt.Fprintf(os.Stderr, "sftp server: %v\n", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

const sftpServerEnv = "HOMESTAKER_RESCUE_TEST_SFTP_SERVER"

// sftpClient opens the sftp subsystem over a logged-in connection, as
// OpenSSH's sftp and scp (9.0 and later) do.
func (n *node) sftpClient(t *testing.T) *sftp.Client {
	t.Helper()
	c, err := sftp.NewClient(n.login(t))
	if err != nil {
		t.Fatalf("starting the sftp subsystem: %v", err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// A fixed file copied in over SFTP replaces the broken one whole (a
// shorter file leaves no tail of the old one), a directory lists, and the
// log names the key, never what went through.
func TestSFTPCopiesInAndLists(t *testing.T) {
	n := startNode(t, nil)
	dir := t.TempDir()
	jwt := filepath.Join(dir, "jwt.hex")
	writeFile(t, jwt, strings.Repeat("0", 200)+"\n") // broken: too long
	fixed := "5c0e3b9fa4d1e2c38b7a6f5e4d3c2b1a09f8e7d6c5b4a39281706f5e4d3c2b1a\n"

	c := n.sftpClient(t)
	f, err := c.OpenFile(jwt, os.O_WRONLY|os.O_CREATE|os.O_TRUNC)
	if err != nil {
		t.Fatalf("opening %s for writing: %v", jwt, err)
	}
	if _, err := io.Copy(f, strings.NewReader(fixed)); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(jwt); string(got) != fixed {
		t.Errorf("%s holds %q after the copy, want %q", jwt, got, fixed)
	}
	// A new tree: a directory and a file in it.
	if err := c.MkdirAll(filepath.Join(dir, "boot", "next")); err != nil {
		t.Fatal(err)
	}
	g, err := c.Create(filepath.Join(dir, "boot", "next", "kexec-boot"))
	if err != nil {
		t.Fatal(err)
	}
	g.Write([]byte("#!/bin/sh\n"))
	g.Close()
	entries, err := c.ReadDir(dir)
	if err != nil {
		t.Fatalf("listing %s: %v", dir, err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	if !slices.Equal(names, []string{"boot", "jwt.hex"}) {
		t.Errorf("listing %s: %q", dir, names)
	}
	// Relative paths start at /, as the shells do.
	if wd, err := c.Getwd(); err != nil || wd != "/" {
		t.Errorf("sftp working directory %q, %v; want /", wd, err)
	}
	// Reading back works too (scp from the node).
	r, err := c.Open(jwt)
	if err != nil {
		t.Fatal(err)
	}
	var back bytes.Buffer
	io.Copy(&back, r)
	r.Close()
	if back.String() != fixed {
		t.Errorf("read back %q", back.String())
	}
	c.Close()

	n.waitLog(t, "sftp session ended (exit status 0) after")
	log := n.logText()
	fp := ssh.FingerprintSHA256(n.operator.PublicKey())
	if !strings.Contains(log, "sftp session started (ssh-ed25519 "+fp+")") {
		t.Errorf("the log does not name the key %s of the sftp session:\n%s", fp, log)
	}
	if !strings.Contains(log, "received,") || !strings.Contains(log, "sent") {
		t.Errorf("the log does not count the session's bytes:\n%s", log)
	}
	if strings.Contains(log, strings.TrimSpace(fixed)) || strings.Contains(log, "#!/bin/sh") {
		t.Errorf("the log quotes a file's contents:\n%s", log)
	}
}

// A session serves SFTP or runs a process, not both.
func TestSFTPSessionRunsNothingElse(t *testing.T) {
	n := startNode(t, nil)
	s := n.session(t)
	if err := s.RequestSubsystem("sftp"); err != nil {
		t.Fatal(err)
	}
	ok, err := s.SendRequest("exec", true, ssh.Marshal(&struct{ Command string }{"echo hi"}))
	if err != nil || ok {
		t.Errorf("exec after the sftp subsystem: %v, %v; want refused", ok, err)
	}
	ok, err = s.SendRequest("subsystem", true, ssh.Marshal(&struct{ Name string }{"sftp"}))
	if err != nil || ok {
		t.Errorf("a second sftp subsystem in one session: %v, %v; want refused", ok, err)
	}
}

// Without an SFTP server program the subsystem is refused, and says so.
func TestSFTPRefusedWithoutAServerProgram(t *testing.T) {
	n := startNode(t, func(o *Options) { o.SFTPServer = nil })
	if err := n.session(t).RequestSubsystem("sftp"); err == nil {
		t.Error("the sftp subsystem started without a server program")
	}
	n.waitLog(t, "no SFTP server program is set")
}

// A crash of the SFTP server program ends that session only: the next
// one works. (pkg/sftp runs goroutines of its own, which no recover in
// the init could catch; that is why it runs in a process of its own.)
func TestSFTPServerCrashEndsOnlyItsSession(t *testing.T) {
	n := startNode(t, nil)
	c := n.sftpClient(t)
	if _, err := c.Getwd(); err != nil {
		t.Fatal(err)
	}
	var pid int
	out, err := exec.Command("pgrep", "-f", "-P", fmt.Sprint(os.Getpid()), os.Args[0]).Output()
	if _, perr := fmt.Sscan(string(out), &pid); err != nil || perr != nil {
		t.Fatalf("finding the SFTP server process: %v, %q", err, out)
	}
	// A fault the Go runtime does not recover from: it dies as from a
	// panic in any goroutine, with exit status 2.
	if err := syscall.Kill(pid, syscall.SIGSEGV); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Stat("/"); err == nil {
		t.Error("the session answers after its server crashed")
	}
	n.waitLog(t, "sftp session ended (exit status 2)")
	if _, err := n.sftpClient(t).Stat("/"); err != nil {
		t.Errorf("a new sftp session after the crash: %v", err)
	}
}

// Closing the server ends an SFTP session that is still open.
func TestCloseEndsSFTPSessions(t *testing.T) {
	n := startNode(t, nil)
	c := n.sftpClient(t)
	if _, err := c.Getwd(); err != nil {
		t.Fatal(err)
	}
	if err := n.srv.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Stat("/"); err == nil {
		t.Error("the sftp session still answers after Close")
	}
}

// Legacy scp (scp -O) gets the protocol's error reply saying to use SFTP,
// instead of a missing program's shell error.
func TestLegacySCPRefusedWithTheWayOut(t *testing.T) {
	n := startNode(t, nil)
	s := n.session(t)
	var stdout, stderr bytes.Buffer
	s.Stdout, s.Stderr = &stdout, &stderr
	err := s.Run("scp -t -- /mnt/lighthouse/jwt.hex")
	var exit *ssh.ExitError
	if !errors.As(err, &exit) || exit.ExitStatus() != 1 {
		t.Errorf("legacy scp: %v, want exit status 1", err)
	}
	if !strings.HasPrefix(stdout.String(), "\x01") || !strings.Contains(stdout.String(), "run scp without -O") {
		t.Errorf("stdout %q, want the legacy protocol's error reply", stdout.String())
	}
	n.waitLog(t, "legacy scp (scp -O) refused")
}

func TestLegacySCP(t *testing.T) {
	for cmd, want := range map[string]bool{
		"scp -t -- /mnt/lighthouse/jwt.hex":  true,
		"scp -v -d -t -- /mnt/boot/":         true,
		"scp -r -p -f -- /mnt/boot":          true,
		"scp -f /run/homestaker/report.json": true,
		"/usr/bin/scp -t x":                  true,
		"scp":                                false,
		"scp --help":                         false,
		"scp -- -t":                          false,
		"scpx -t x":                          false,
		"cat report.json | scp":              false,
		"homestaker retry":                   false,
		"":                                   false,
	} {
		if got := legacySCP(cmd); got != want {
			t.Errorf("legacySCP(%q) = %v, want %v", cmd, got, want)
		}
	}
}

// Port forwarding both ways, agent and X11 forwarding are refused, with
// the sftp subsystem on.
func TestForwardingsRefused(t *testing.T) {
	n := startNode(t, nil)
	// A line without restrict or no-port-forwarding: the server itself
	// refuses.
	writeFile(t, filepath.Join(n.dir, "authorized_keys"), authorizedLine(n.operator.PublicKey())+"\n")
	c := n.login(t)
	if conn, err := c.Dial("tcp", n.addr()); err == nil {
		conn.Close()
		t.Error("a local port forwarding (direct-tcpip) was opened")
	}
	if l, err := c.Listen("tcp", "127.0.0.1:0"); err == nil {
		l.Close()
		t.Error("a remote port forwarding (tcpip-forward) was granted")
	}
	if ok, _, err := c.SendRequest("streamlocal-forward@openssh.com", true, ssh.Marshal(&struct{ Path string }{"/tmp/x"})); err != nil || ok {
		t.Errorf("a socket forwarding was granted: %v, %v", ok, err)
	}
	s, err := c.NewSession()
	if err != nil {
		t.Fatal(err)
	}
	if ok, err := s.SendRequest("auth-agent-req@openssh.com", true, nil); err != nil || ok {
		t.Errorf("agent forwarding: %v, %v; want refused", ok, err)
	}
	x11 := ssh.Marshal(&struct {
		Single        bool
		Proto, Cookie string
		Screen        uint32
	}{false, "MIT-MAGIC-COOKIE-1", "00", 0})
	if ok, err := s.SendRequest("x11-req", true, x11); err != nil || ok {
		t.Errorf("X11 forwarding: %v, %v; want refused", ok, err)
	}
	if _, _, err := c.OpenChannel("auth-agent@openssh.com", nil); err == nil {
		t.Error("an agent channel was opened")
	}
}
