// Package rescue is the SSH server a failed boot offers on the WireGuard
// tunnel's addresses, so that an operator who can reach the node only
// through the VPN can log in, read the report, copy files in with scp or
// sftp and fix the node.
package rescue

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/sys/unix"

	"github.com/homestaker/homestaker-boot/init/panics"
	"github.com/homestaker/homestaker-boot/init/report"
)

// Options configures the rescue server.
type Options struct {
	// Addrs are the tunnel's addresses; the server listens on each
	// addr:Port and on nothing else. The unspecified addresses are refused.
	Addrs []netip.Addr
	// Port is the TCP port; 0 picks a free one per address (tests).
	Port int
	// Device, if set, is the tunnel's network interface: the listening
	// sockets are bound to it (SO_BINDTODEVICE), because Linux accepts a
	// packet for a local address on any interface, and a neighbour on the
	// LAN could otherwise reach the tunnel address through eth0.
	Device string
	// HostKey is the path of the node's unencrypted OpenSSH private key.
	HostKey string
	// AuthorizedKeys are authorized_keys files and directories of them;
	// see LoadAuthorizedKeys. They are read again at every login attempt.
	AuthorizedKeys []string
	// Shell is the argv of the interactive shell; Shell[0] -c CMD runs
	// an exec request.
	Shell []string
	// SFTPServer, if set, is the argv of the program that serves the
	// "sftp" subsystem on its standard input and output (ServeSFTP's
	// caller); without it the subsystem is refused.
	SFTPServer []string
	// Env is the environment of shells and commands.
	Env []string
	// Greeting, if set, is called per session and its text written
	// before the shell or command starts.
	Greeting func() string
	// Log, if set, gets one line per event. It never sees key material.
	Log func(format string, args ...any)
	// OnLogin, if set, is called after each successful login.
	OnLogin func()
	// Start starts a session's process; nil means cmd.Start. PID 1 passes
	// early.Start so that its reaper leaves the process to cmd.Wait.
	Start func(cmd *exec.Cmd) error
	// Done, if set, is called after cmd.Wait; PID 1 passes early.Done.
	Done func(cmd *exec.Cmd)
}

// Server is a running rescue SSH server.
type Server struct {
	o      Options
	signer ssh.Signer
	fp     string
	keys   *authorizedSet
	lns    []net.Listener
	wg     sync.WaitGroup // accept loops and connections, for Close

	mu     sync.Mutex // guards conns, unauth and closed
	conns  map[net.Conn]bool
	unauth int // connections not logged in yet
	closed bool
}

// Start loads the host key and the authorized keys and listens on every
// address in o.Addrs. An address that cannot be bound is logged and left
// out; Start fails only when none can. Its errors say what to fix.
func Start(o Options) (*Server, error) {
	o = withDefaults(o)
	if err := o.check(); err != nil {
		return nil, err
	}
	signer, err := LoadHostKey(o.HostKey)
	if err != nil {
		return nil, err
	}
	keys, err := newAuthorizedSet(o.AuthorizedKeys, o.Log)
	if err != nil {
		return nil, err
	}
	s := &Server{o: o, signer: signer, fp: ssh.FingerprintSHA256(signer.PublicKey()), keys: keys, conns: map[net.Conn]bool{}}
	if err := s.listen(); err != nil {
		return nil, err
	}
	for _, ln := range s.lns {
		s.wg.Go(func() {
			// The operator's way in outlives a bug in the accept loop.
			what := "the rescue ssh accept loop on " + ln.Addr().String()
			for panics.Run(what, s.o.Log, func() { s.serve(ln) }) != nil {
				time.Sleep(time.Second)
			}
		})
	}
	return s, nil
}

// maxAuthTries is how many keys a client may offer per connection.
const maxAuthTries = 6

func withDefaults(o Options) Options {
	if o.Log == nil {
		o.Log = func(string, ...any) {}
	}
	if o.Start == nil {
		o.Start = (*exec.Cmd).Start
	}
	if o.Done == nil {
		o.Done = func(*exec.Cmd) {}
	}
	return o
}

// check refuses options that are a caller's bug, not an operator's.
func (o Options) check() error {
	switch {
	case len(o.Addrs) == 0:
		return errors.New("rescue ssh: no tunnel addresses to listen on")
	case o.Port < 0 || o.Port > 65535:
		return fmt.Errorf("rescue ssh: port %d is out of range 0 to 65535", o.Port)
	case len(o.Shell) == 0 || o.Shell[0] == "":
		return errors.New("rescue ssh: no shell to run for a session")
	case o.HostKey == "":
		return errors.New("rescue ssh: no host key file given")
	}
	for _, a := range o.Addrs {
		// ::ffff:0.0.0.0 is 0.0.0.0 once unmapped for listening.
		if !a.IsValid() || a.Unmap().IsUnspecified() {
			return fmt.Errorf("rescue ssh: refusing to listen on %q: only the tunnel's own addresses are allowed", a)
		}
	}
	return nil
}

// listen binds every address it can; it fails only if none binds.
func (s *Server) listen() error {
	var failed []string
	for _, a := range s.o.Addrs {
		ap := netip.AddrPortFrom(a.Unmap(), uint16(s.o.Port))
		lc := net.ListenConfig{Control: func(_, _ string, c syscall.RawConn) error {
			if s.o.Device == "" {
				return nil
			}
			var serr error
			if err := c.Control(func(fd uintptr) { serr = unix.BindToDevice(int(fd), s.o.Device) }); err != nil {
				return err
			}
			if serr != nil {
				return fmt.Errorf("binding to %s: %v", s.o.Device, serr)
			}
			return nil
		}}
		ln, err := lc.Listen(context.Background(), "tcp", ap.String())
		if err != nil {
			s.o.Log("rescue ssh: not listening on %s: %v", ap, err)
			failed = append(failed, err.Error())
			continue
		}
		s.lns = append(s.lns, ln)
		on := ""
		if s.o.Device != "" {
			on = " (" + s.o.Device + " only)"
		}
		s.o.Log("rescue ssh: listening on %s%s, host key %s", ln.Addr(), on, s.fp)
	}
	if len(s.lns) == 0 {
		return report.Fail("the rescue SSH server to listen on the tunnel's addresses", strings.Join(failed, "; "),
			"check that the tunnel is up with these addresses and that nothing else holds the port (homestaker.rescue.port)")
	}
	return nil
}

// Addrs returns the addresses the server listens on, with their ports.
func (s *Server) Addrs() []net.Addr {
	out := make([]net.Addr, len(s.lns))
	for i, ln := range s.lns {
		out[i] = ln.Addr()
	}
	return out
}

// Fingerprint returns the host key's fingerprint as ssh-keygen -lf shows
// it, "SHA256:..." — what the operator checks at first login.
func (s *Server) Fingerprint() string { return s.fp }

// Close stops listening, ends every connection (killing its sessions'
// processes) and returns once all of them are gone. Closing again does
// nothing.
func (s *Server) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	var errs []error
	for _, ln := range s.lns {
		errs = append(errs, ln.Close())
	}
	for c := range s.conns {
		_ = c.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
	return errors.Join(errs...)
}

// serve accepts connections on ln until Close.
func (s *Server) serve(ln net.Listener) {
	for {
		c, err := ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			// Out of file descriptors, say: the operator still
			// needs the way in once it passes.
			s.o.Log("rescue ssh: accepting on %s: %v; trying again in 1 s", ln.Addr(), err)
			time.Sleep(time.Second)
			continue
		}
		ok, full := s.track(c)
		if full {
			s.o.Log("rescue ssh: %s: closed, %d connections are already waiting to log in", c.RemoteAddr(), maxUnauthenticated)
			_ = c.Close()
			continue
		}
		if !ok {
			_ = c.Close()
			return
		}
		s.wg.Go(func() {
			waiting := true // not logged in yet; only this goroutine touches it
			defer func() { s.untrack(c, waiting) }()
			// A bug ends this connection; the server goes on.
			_ = panics.Run("a rescue ssh connection from "+c.RemoteAddr().String(), s.o.Log, func() {
				s.handle(c, func() { s.loggedIn(); waiting = false })
			})
		})
	}
}

// track registers c, not logged in yet, for Close. It is false once the
// server is closed, and full when maxUnauthenticated connections are
// already waiting to log in.
func (s *Server) track(c net.Conn) (ok, full bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.closed:
		return false, false
	case s.unauth >= maxUnauthenticated:
		return false, true
	}
	s.conns[c] = true
	s.unauth++
	return true, false
}

// loggedIn frees a slot among the connections waiting to log in.
func (s *Server) loggedIn() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.unauth--
}

func (s *Server) untrack(c net.Conn, waiting bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.conns, c)
	if waiting {
		s.unauth--
	}
	_ = c.Close()
}
