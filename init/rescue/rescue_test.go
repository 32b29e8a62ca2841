package rescue

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
)

const greeting = "boot failed at stage storage\nsee /run/homestaker/report.json"

// node is a rescue server on loopback with generated keys.
type node struct {
	srv      *Server
	dir      string
	hostKey  ssh.PublicKey
	secrets  []string   // base64 bodies of the private keys, never to be logged
	operator ssh.Signer // the authorized client key
	logins   atomic.Int32
	mu       sync.Mutex // guards log
	log      []string
}

// newKey generates an ed25519 key, writes it in OpenSSH format to path
// and returns its signer and the PEM body.
func newKey(t *testing.T, path string) (ssh.Signer, string) {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	block, err := ssh.MarshalPrivateKey(priv, "")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, pem.EncodeToMemory(block), 0o600); err != nil {
		t.Fatal(err)
	}
	signer, err := ssh.NewSignerFromKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	return signer, pemBody(block)
}

// pemBody is the base64 text of a PEM block, without line breaks.
func pemBody(b *pem.Block) string {
	s := string(pem.EncodeToMemory(b))
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return strings.Join(lines[1:len(lines)-1], "")
}

func authorizedLine(k ssh.PublicKey) string {
	return strings.TrimSpace(string(ssh.MarshalAuthorizedKey(k)))
}

// startNode starts a server whose authorized_keys has an options-prefixed
// line for the operator, a comment and a malformed line. edit may change
// the options before Start.
func startNode(t *testing.T, edit func(*Options)) *node {
	t.Helper()
	n := &node{dir: t.TempDir()}
	host, hostBody := newKey(t, filepath.Join(n.dir, "ssh_host_ed25519_key"))
	op, opBody := newKey(t, filepath.Join(n.dir, "operator_key"))
	n.hostKey, n.operator, n.secrets = host.PublicKey(), op, []string{hostBody, opBody}
	ak := "# the operator's laptop\n" +
		`restrict,pty,no-port-forwarding,from="127.0.0.0/8,::1" ` + authorizedLine(op.PublicKey()) + " operator@laptop\n" +
		"\n" +
		"ssh-ed25519 not-base64 broken@line\n"
	writeFile(t, filepath.Join(n.dir, "authorized_keys"), ak)
	o := Options{
		Addrs:          []netip.Addr{netip.MustParseAddr("127.0.0.1")},
		HostKey:        filepath.Join(n.dir, "ssh_host_ed25519_key"),
		AuthorizedKeys: []string{filepath.Join(n.dir, "authorized_keys"), filepath.Join(n.dir, "missing")},
		Shell:          []string{"/bin/sh"},
		SFTPServer:     []string{os.Args[0]},
		Env:            []string{"PATH=/usr/bin:/bin", "HOME=/", sftpServerEnv + "=1"},
		Greeting:       func() string { return greeting },
		Log:            n.logf,
		OnLogin:        func() { n.logf("test: login %d", n.logins.Add(1)) },
	}
	if edit != nil {
		edit(&o)
	}
	srv, err := Start(o)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	n.srv = srv
	t.Cleanup(func() {
		if err := srv.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
		n.checkLogHoldsNoSecret(t)
	})
	return n
}

func writeFile(t *testing.T, path, text string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
}

func (n *node) logf(format string, args ...any) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.log = append(n.log, fmt.Sprintf(format, args...))
}

func (n *node) logText() string {
	n.mu.Lock()
	defer n.mu.Unlock()
	return strings.Join(n.log, "\n")
}

// checkLogHoldsNoSecret fails if any 16 characters of a private key's
// base64 body reached the log.
func (n *node) checkLogHoldsNoSecret(t *testing.T) {
	t.Helper()
	log := n.logText()
	for _, body := range n.secrets {
		for i := 0; i+16 <= len(body); i += 8 {
			if strings.Contains(log, body[i:i+16]) {
				t.Fatalf("the log quotes a private key:\n%s", log)
			}
		}
	}
}

// waitLog waits for the log to hold want; lines are written by the
// server's goroutines, after the client has seen the result.
func (n *node) waitLog(t *testing.T, want string) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if strings.Contains(n.logText(), want) {
			return
		}
	}
	t.Fatalf("the log does not say %q:\n%s", want, n.logText())
}

func (n *node) addr() string { return n.srv.Addrs()[0].String() }

// dial logs in as root with auth, checking the host key.
func (n *node) dial(auth ...ssh.AuthMethod) (*ssh.Client, error) {
	return ssh.Dial("tcp", n.addr(), &ssh.ClientConfig{
		User:            "root",
		Auth:            auth,
		HostKeyCallback: ssh.FixedHostKey(n.hostKey),
		Timeout:         10 * time.Second,
	})
}

func (n *node) login(t *testing.T) *ssh.Client {
	t.Helper()
	c, err := n.dial(ssh.PublicKeys(n.operator))
	if err != nil {
		t.Fatalf("login with the authorized key: %v", err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func (n *node) session(t *testing.T) *ssh.Session {
	t.Helper()
	s, err := n.login(t).NewSession()
	if err != nil {
		t.Fatalf("opening a session: %v", err)
	}
	return s
}

func TestExecReturnsOutputGreetingAndExitStatus(t *testing.T) {
	n := startNode(t, nil)
	out, err := n.session(t).CombinedOutput("echo hello; exit 3")
	var exit *ssh.ExitError
	if !errors.As(err, &exit) || exit.ExitStatus() != 3 {
		t.Fatalf("exec: err = %v, want exit status 3; output:\n%s", err, out)
	}
	for _, want := range []string{"hello\n", greeting + "\n"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("output %q lacks %q", out, want)
		}
	}
	n.waitLog(t, "command ended (exit status 3)")
}

func TestExecKeepsStdoutClean(t *testing.T) {
	n := startNode(t, nil)
	s := n.session(t)
	var stdout, stderr bytes.Buffer
	s.Stdout, s.Stderr = &stdout, &stderr
	s.Stdin = strings.NewReader("from stdin\n")
	if err := s.Run("cat; echo oops >&2"); err != nil {
		t.Fatalf("exec: %v", err)
	}
	if stdout.String() != "from stdin\n" {
		t.Errorf("stdout = %q, want only the command's output", stdout.String())
	}
	if !strings.HasPrefix(stderr.String(), greeting) || !strings.HasSuffix(stderr.String(), "oops\n") {
		t.Errorf("stderr = %q, want the greeting then the command's stderr", stderr.String())
	}
}

// A key whose line says restrict (without a later pty) or no-pty gets
// commands but no PTY, as from sshd.
func TestNoPTYHonoured(t *testing.T) {
	for _, opts := range []string{"restrict", "no-pty", "pty,restrict"} {
		t.Run(opts, func(t *testing.T) {
			n := startNode(t, nil)
			writeFile(t, filepath.Join(n.dir, "authorized_keys"), opts+" "+authorizedLine(n.operator.PublicKey())+"\n")
			s := n.session(t)
			if err := s.RequestPty("xterm", 40, 100, ssh.TerminalModes{}); err == nil {
				t.Fatalf("pty-req with %q: granted, want refused", opts)
			}
			n.waitLog(t, "PTY refused")
			if out, err := s.Output("echo $((6*7))"); err != nil || !strings.HasSuffix(string(out), "42\n") {
				t.Errorf("exec after the refused PTY: %q, %v; want 42", out, err)
			}
		})
	}
}

func TestPTYShell(t *testing.T) {
	n := startNode(t, nil)
	s := n.session(t)
	if err := s.RequestPty("xterm-test", 40, 100, ssh.TerminalModes{}); err != nil {
		t.Fatalf("pty-req: %v", err)
	}
	stdin, err := s.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	out := &syncBuffer{}
	s.Stdout = out
	if err := s.Shell(); err != nil {
		t.Fatalf("shell: %v", err)
	}
	fmt.Fprint(stdin, "echo $((6*7)) $TERM; stty size\n")
	waitOutput(t, out, "42 xterm-test\r\n40 100\r\n")
	// A window change and the terminal's input are separate streams:
	// ask for the size until the change has arrived.
	if err := s.WindowChange(50, 120); err != nil {
		t.Fatalf("window-change: %v", err)
	}
	for deadline := time.Now().Add(5 * time.Second); !strings.Contains(out.String(), "50 120") && time.Now().Before(deadline); {
		fmt.Fprint(stdin, "stty size\n")
		time.Sleep(50 * time.Millisecond)
	}
	fmt.Fprint(stdin, "exit\n")
	if err := waitSession(s); err != nil {
		t.Fatalf("shell: %v; output:\n%s", err, out.String())
	}
	got := out.String()
	for _, want := range []string{strings.ReplaceAll(greeting, "\n", "\r\n") + "\r\n", "42 xterm-test\r\n40 100\r\n", "50 120\r\n"} {
		if !strings.Contains(got, want) {
			t.Errorf("output lacks %q:\n%q", want, got)
		}
	}
	n.waitLog(t, "shell started (terminal xterm-test 100x40)")
	n.waitLog(t, "shell ended (exit status 0)")
}

// waitOutput waits for out to hold want.
func waitOutput(t *testing.T, out *syncBuffer, want string) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if strings.Contains(out.String(), want) {
			return
		}
	}
	t.Fatalf("output lacks %q:\n%q", want, out.String())
}

// syncBuffer is a bytes.Buffer a session may write while the test reads.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// waitSession waits for s, failing after a while rather than hanging.
func waitSession(s *ssh.Session) error {
	done := make(chan error, 1)
	go func() { done <- s.Wait() }()
	select {
	case err := <-done:
		return err
	case <-time.After(10 * time.Second):
		return errors.New("the session did not end within 10 s")
	}
}

func TestHostKeyAndFingerprint(t *testing.T) {
	n := startNode(t, nil)
	var seen []ssh.PublicKey
	c, err := ssh.Dial("tcp", n.addr(), &ssh.ClientConfig{
		User: "root",
		Auth: []ssh.AuthMethod{ssh.PublicKeys(n.operator)},
		HostKeyCallback: func(_ string, _ net.Addr, key ssh.PublicKey) error {
			seen = append(seen, key)
			return nil
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	_ = c.Close()
	if len(seen) != 1 || !bytes.Equal(seen[0].Marshal(), n.hostKey.Marshal()) {
		t.Errorf("host key callback saw %d keys, want exactly the node's", len(seen))
	}
	if got, want := n.srv.Fingerprint(), ssh.FingerprintSHA256(n.hostKey); got != want {
		t.Errorf("Fingerprint() = %s, want %s", got, want)
	}
	n.waitLog(t, "host key "+ssh.FingerprintSHA256(n.hostKey))
}

func TestRefusesUnknownKeysAndPasswords(t *testing.T) {
	n := startNode(t, nil)
	stranger, _ := newKey(t, filepath.Join(n.dir, "stranger"))
	if c, err := n.dial(ssh.PublicKeys(stranger)); err == nil {
		c.Close()
		t.Fatal("an unknown key logged in")
	}
	n.waitLog(t, `refused login as "root"`)
	n.waitLog(t, ssh.FingerprintSHA256(stranger.PublicKey())+" (not in the authorized keys)")

	if c, err := n.dial(ssh.Password("root"), ssh.KeyboardInteractive(func(string, string, []string, []bool) ([]string, error) {
		return []string{"root"}, nil
	})); err == nil {
		c.Close()
		t.Fatal("a password logged in")
	}
	// The server offers only publickey, so the client does not even send
	// the password.
	n.waitLog(t, `refused login as "root" from 127.0.0.1:`)
	n.waitLog(t, "no public key offered; methods tried: none (only publickey is accepted)")
	if got := n.logins.Load(); got != 0 {
		t.Errorf("OnLogin called %d times for refused logins", got)
	}
}

func TestFromOptionLimitsTheSource(t *testing.T) {
	n := startNode(t, nil)
	line := `from="10.0.0.0/8" ` + authorizedLine(n.operator.PublicKey())
	writeFile(t, filepath.Join(n.dir, "authorized_keys"), line+"\n")
	if c, err := n.dial(ssh.PublicKeys(n.operator)); err == nil {
		c.Close()
		t.Fatal("a key limited to 10.0.0.0/8 logged in from 127.0.0.1")
	}
	n.waitLog(t, "authorized_keys:1 does not admit 127.0.0.1")
}

func TestListensOnlyOnTheGivenAddress(t *testing.T) {
	n := startNode(t, nil)
	addrs := n.srv.Addrs()
	if len(addrs) != 1 {
		t.Fatalf("Addrs() = %v, want one", addrs)
	}
	ap, err := netip.ParseAddrPort(addrs[0].String())
	if err != nil || ap.Addr() != netip.MustParseAddr("127.0.0.1") || ap.Port() == 0 {
		t.Errorf("Addrs() = %v, want 127.0.0.1 with the port picked", addrs)
	}
	for _, a := range []string{"0.0.0.0", "::", "::ffff:0.0.0.0"} {
		_, err := Start(Options{Addrs: []netip.Addr{netip.MustParseAddr(a)}, HostKey: "/unused", Shell: []string{"/bin/sh"}})
		if err == nil || !strings.Contains(err.Error(), "refusing to listen") {
			t.Errorf("Start on %s: err = %v, want a refusal", a, err)
		}
	}
}

func TestOnLoginOncePerLogin(t *testing.T) {
	n := startNode(t, nil)
	for i := 1; i <= 2; i++ {
		c := n.login(t)
		// The client may be in before the server has called OnLogin.
		n.waitLog(t, fmt.Sprintf("login %d", i))
		_ = c.Close()
	}
	// Once the server is done with both connections, no more calls can
	// come from them.
	for deadline := time.Now().Add(5 * time.Second); strings.Count(n.logText(), ": connection closed") < 2; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the server did not close both connections:\n%s", n.logText())
		}
	}
	if got := n.logins.Load(); got != 2 {
		t.Errorf("OnLogin called %d times for 2 logins", got)
	}
	n.waitLog(t, `login as "root" from 127.0.0.1:`)
	n.waitLog(t, "ssh-ed25519 "+ssh.FingerprintSHA256(n.operator.PublicKey())+" ("+filepath.Join(n.dir, "authorized_keys")+":2)")
	n.waitLog(t, "authorized_keys:4: not an authorized_keys line")
}

func TestHostKeyErrorsNameThePath(t *testing.T) {
	dir := t.TempDir()
	encrypted := filepath.Join(dir, "encrypted")
	_, priv, _ := ed25519.GenerateKey(rand.Reader)
	block, err := ssh.MarshalPrivateKeyWithPassphrase(priv, "", []byte("secret"))
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, encrypted, string(pem.EncodeToMemory(block)))
	malformed := filepath.Join(dir, "malformed")
	writeFile(t, malformed, "-----BEGIN OPENSSH PRIVATE KEY-----\nbm90IGEga2V5\n-----END OPENSSH PRIVATE KEY-----\n")
	for _, tc := range []struct{ path, want string }{
		{filepath.Join(dir, "missing"), "no such file"},
		{malformed, "no usable private key"},
		{encrypted, "passphrase"},
	} {
		_, err := Start(Options{Addrs: []netip.Addr{netip.MustParseAddr("127.0.0.1")}, HostKey: tc.path, Shell: []string{"/bin/sh"}})
		if err == nil || !strings.Contains(err.Error(), tc.path) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Start with host key %s: err = %v, want it to name the file and say %q", tc.path, err, tc.want)
		}
	}
}

func TestNoAuthorizedKeysIsAnError(t *testing.T) {
	dir := t.TempDir()
	newKey(t, filepath.Join(dir, "host"))
	writeFile(t, filepath.Join(dir, "authorized_keys"), "# nobody yet\nnot a key\n")
	_, err := Start(Options{
		Addrs:          []netip.Addr{netip.MustParseAddr("127.0.0.1")},
		HostKey:        filepath.Join(dir, "host"),
		AuthorizedKeys: []string{filepath.Join(dir, "authorized_keys"), "/built-in/authorized_keys"},
		Shell:          []string{"/bin/sh"},
	})
	if err == nil || !strings.Contains(err.Error(), filepath.Join(dir, "authorized_keys")+" or /built-in/authorized_keys") ||
		!strings.Contains(err.Error(), "add the operator's public key") {
		t.Errorf("Start without keys: err = %v", err)
	}
}

func TestAuthorizedKeysDirectory(t *testing.T) {
	n := startNode(t, func(o *Options) {
		dir := filepath.Join(filepath.Dir(o.HostKey), "authorized_keys.d")
		if err := os.Mkdir(dir, 0o700); err != nil {
			t.Fatal(err)
		}
		op, _ := ssh.ParsePrivateKey(must(os.ReadFile(filepath.Join(filepath.Dir(o.HostKey), "operator_key"))))
		writeFile(t, filepath.Join(dir, "alice"), authorizedLine(op.PublicKey())+" alice\n")
		writeFile(t, filepath.Join(dir, "bob"), "# bob has no key yet\n")
		o.AuthorizedKeys = []string{dir}
	})
	n.login(t)
	n.waitLog(t, "authorized_keys.d/alice:1)")
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

func TestAuthorizedKeysAreReadAtEveryLogin(t *testing.T) {
	n := startNode(t, nil)
	late, _ := newKey(t, filepath.Join(n.dir, "late"))
	if c, err := n.dial(ssh.PublicKeys(late)); err == nil {
		c.Close()
		t.Fatal("a key not yet authorized logged in")
	}
	f, err := os.OpenFile(filepath.Join(n.dir, "authorized_keys"), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintln(f, authorizedLine(late.PublicKey()))
	f.Close()
	c, err := n.dial(ssh.PublicKeys(late))
	if err != nil {
		t.Fatalf("a key added after Start: %v", err)
	}
	c.Close()
	// The malformed line was warned about once, not at every reread.
	if got := strings.Count(n.logText(), "authorized_keys:4"); got != 1 {
		t.Errorf("the malformed line was warned about %d times:\n%s", got, n.logText())
	}
}

func TestRefusesOtherChannelsAndSubsystems(t *testing.T) {
	n := startNode(t, nil)
	c := n.login(t)
	if conn, err := c.Dial("tcp", n.addr()); err == nil {
		conn.Close()
		t.Error("a port forwarding was opened")
	}
	s, err := c.NewSession()
	if err != nil {
		t.Fatal(err)
	}
	if err := s.RequestSubsystem("netconf"); err == nil {
		t.Error("a subsystem other than sftp was started")
	}
}

func TestCloseEndsRunningSessions(t *testing.T) {
	n := startNode(t, nil)
	s := n.session(t)
	pidFile := filepath.Join(n.dir, "pid")
	stdout, _ := s.StdoutPipe()
	if err := s.Start("echo $$ > " + pidFile + "; echo started; exec sleep 100"); err != nil {
		t.Fatal(err)
	}
	line := make([]byte, 8)
	if _, err := io.ReadAtLeast(stdout, line, len("started")); err != nil {
		t.Fatal(err)
	}
	pid := strings.TrimSpace(string(must(os.ReadFile(pidFile))))
	closed := make(chan error, 1)
	go func() { closed <- n.srv.Close() }()
	select {
	case <-closed:
	case <-time.After(10 * time.Second):
		t.Fatal("Close did not return within 10 s")
	}
	if _, err := os.Stat("/proc/" + pid); err == nil {
		t.Errorf("the session's process %s still runs after Close", pid)
	}
	n.waitLog(t, "command ended (killed by SIGKILL)")
}

func TestPTYSessionEndsDespiteABackgroundJob(t *testing.T) {
	n := startNode(t, nil)
	s := n.session(t)
	if err := s.RequestPty("vt100", 24, 80, ssh.TerminalModes{}); err != nil {
		t.Fatal(err)
	}
	s.Stdin = strings.NewReader("sleep 5 &\nexit 7\n")
	began := time.Now()
	if err := s.Shell(); err != nil {
		t.Fatal(err)
	}
	err := waitSession(s)
	var exit *ssh.ExitError
	if !errors.As(err, &exit) || exit.ExitStatus() != 7 {
		t.Fatalf("shell: err = %v, want exit status 7", err)
	}
	if d := time.Since(began); d > outputGrace+2*time.Second {
		t.Errorf("the session took %s to end; the background job holding the terminal should cost at most %s", d, outputGrace)
	}
}

func TestExitSignal(t *testing.T) {
	n := startNode(t, nil)
	err := n.session(t).Run("kill -TERM $$")
	var exit *ssh.ExitError
	if !errors.As(err, &exit) || exit.Signal() != "TERM" {
		t.Fatalf("exec: err = %v, want the exit signal TERM", err)
	}
	n.waitLog(t, "command ended (killed by SIGTERM)")
}

func TestStartAndDoneHooks(t *testing.T) {
	var started, done atomic.Int32
	n := startNode(t, func(o *Options) {
		o.Start = func(cmd *exec.Cmd) error {
			started.Add(1)
			return cmd.Start()
		}
		o.Done = func(cmd *exec.Cmd) {
			if cmd.ProcessState == nil {
				t.Error("Done called before Wait")
			}
			done.Add(1)
		}
	})
	if out, err := n.session(t).Output("echo $PATH"); err != nil || string(out) != "/usr/bin:/bin\n" {
		t.Fatalf("exec: %q, %v; want Options.Env's PATH", out, err)
	}
	n.waitLog(t, "command ended")
	if started.Load() != 1 || done.Load() != 1 {
		t.Errorf("Start called %d times, Done %d times; want once each", started.Load(), done.Load())
	}
}

// The listening sockets are bound to the tunnel device: a connection to
// the tunnel address that arrives on another interface (a LAN neighbour
// routing it to the node's eth0, here: loopback) is refused, the same
// connection on the device is served.
func TestBoundToTheTunnelDevice(t *testing.T) {
	n := startNode(t, func(o *Options) { o.Device = "lo" })
	if _, err := n.dial(ssh.PublicKeys(n.operator)); err != nil {
		t.Fatalf("login over the bound device lo: %v", err)
	}
	n.waitLog(t, "(lo only)")

	if os.Getuid() != 0 {
		t.Skip("needs root to add a TUN device")
	}
	// A TUN device, as the tunnel is.
	dev := fmt.Sprintf("hsres%d", os.Getpid()%100000)
	if out, err := exec.Command("ip", "tuntap", "add", dev, "mode", "tun").CombinedOutput(); err != nil {
		t.Fatalf("adding a TUN device: %v: %s", err, out)
	}
	t.Cleanup(func() { exec.Command("ip", "tuntap", "del", dev, "mode", "tun").Run() })
	other := startNode(t, func(o *Options) { o.Device = dev })
	c, err := net.DialTimeout("tcp", other.addr(), 5*time.Second)
	if err == nil {
		c.Close()
		t.Fatalf("a connection to %s over lo reached a server bound to %s", other.addr(), dev)
	}
}

// Connections that never log in hold at most maxUnauthenticated slots;
// more are closed at once, and a slot that frees lets the operator in.
func TestUnauthenticatedConnectionsAreBounded(t *testing.T) {
	n := startNode(t, nil)
	var idle []net.Conn
	for i := 0; i < maxUnauthenticated; i++ {
		c, err := net.Dial("tcp", n.addr())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		idle = append(idle, c)
	}
	extra, err := net.Dial("tcp", n.addr())
	if err != nil {
		t.Fatal(err)
	}
	defer extra.Close()
	extra.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.ReadAll(extra); err != nil {
		t.Errorf("the connection over the limit was not closed: %v", err)
	}
	n.waitLog(t, "connections are already waiting to log in")
	idle[0].Close()
	// The server sees the close when its handshake reads; then the slot
	// is free.
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := n.dial(ssh.PublicKeys(n.operator))
		if err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no login after a slot was freed: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// A bug in a session (here the greeting panics, as the caller's function
// is called in each session) ends that session, with a word to the client
// and the stack on the log; the connection and the server go on.
func TestPanicInASessionEndsOnlyThatSession(t *testing.T) {
	for _, pty := range []bool{false, true} {
		t.Run(fmt.Sprintf("pty=%v", pty), func(t *testing.T) {
			var calls atomic.Int32
			n := startNode(t, func(o *Options) {
				o.Greeting = func() string {
					if calls.Add(1) == 1 {
						var m map[string]int
						m["greeting"]++ // a runtime error, as a real bug would be
					}
					return greeting
				}
			})
			c := n.login(t)
			// A raw channel: the x/crypto client copies stderr only after
			// the request's reply, OpenSSH's client as it arrives.
			ch, reqs, err := c.OpenChannel("session", nil)
			if err != nil {
				t.Fatal(err)
			}
			go ssh.DiscardRequests(reqs)
			req, payload := "exec", ssh.Marshal(&struct{ Command string }{"echo hello"})
			if pty {
				p := ssh.Marshal(&ptyRequest{Term: "vt100", Cols: 80, Rows: 24})
				if ok, err := ch.SendRequest("pty-req", true, p); !ok || err != nil {
					t.Fatalf("pty-req: %v, %v", ok, err)
				}
				req, payload = "shell", nil
			}
			if ok, _ := ch.SendRequest(req, true, payload); ok {
				t.Errorf("%s succeeded, want the session ended by the panic", req)
			}
			stderr := make(chan []byte, 1)
			go func() { b, _ := io.ReadAll(ch.Stderr()); stderr <- b }()
			select {
			case b := <-stderr:
				if want := "rescue ssh: internal error: assignment to entry in nil map; this session ends"; !strings.Contains(string(b), want) {
					t.Errorf("the client's stderr %q lacks %q", b, want)
				}
			case <-time.After(10 * time.Second):
				t.Fatal("the panicked session was not closed within 10 s")
			}
			n.waitLog(t, "internal error in a rescue ssh session of root@127.0.0.1:")
			n.waitLog(t, "rescue.(*session).greeting(") // the stack
			// The same connection opens a session that works, and so
			// does a new connection.
			s, err := c.NewSession()
			if err != nil {
				t.Fatalf("a session after the panic: %v", err)
			}
			if out, err := s.CombinedOutput("echo $((6*7))"); err != nil || !strings.Contains(string(out), "42\n") {
				t.Errorf("exec after the panic: %q, %v; want 42", out, err)
			}
			if out, err := n.session(t).CombinedOutput("echo again"); err != nil || !strings.Contains(string(out), "again\n") {
				t.Errorf("exec on a new connection: %q, %v", out, err)
			}
		})
	}
}

// A bug in a session's own goroutine (here Options.Done, called by the
// goroutine that waits for the process) ends the session as well.
func TestPanicInASessionsGoroutineEndsTheSession(t *testing.T) {
	var calls atomic.Int32
	n := startNode(t, func(o *Options) {
		o.Done = func(*exec.Cmd) {
			if calls.Add(1) == 1 {
				panic("done hook")
			}
		}
	})
	s := n.session(t)
	done := make(chan error, 1)
	go func() { done <- s.Run("true") }()
	select {
	case err := <-done:
		if err == nil {
			t.Error("the session ended without an error, want it cut short")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the session did not end within 10 s")
	}
	n.waitLog(t, "internal error in waiting for the process of a rescue ssh session of root@127.0.0.1:")
	n.waitLog(t, "done hook")
	if out, err := n.session(t).CombinedOutput("echo again"); err != nil || !strings.Contains(string(out), "again\n") {
		t.Errorf("exec after the panic: %q, %v", out, err)
	}
}
