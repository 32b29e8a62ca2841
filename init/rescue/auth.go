package rescue

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/homestaker/homestaker-boot/init/report"
)

// handshakeTimeout bounds a connection's key exchange and login, as
// OpenSSH's LoginGraceTime does: long enough for the operator to type a
// key's passphrase, short enough that connections which never log in do
// not hold the maxUnauthenticated slots for long.
const handshakeTimeout = 30 * time.Second

// maxUnauthenticated bounds the connections that have not logged in yet
// (OpenSSH's MaxStartups); more are closed at once.
const maxUnauthenticated = 8

// authorizedSet holds the authorized keys. It reads them again at every
// login attempt, so that an operator who fixes authorized_keys on the
// volume needs no restart. A read that finds no usable key keeps the last
// keys that were found: a half-written file must not lock the operator
// out of the one way in.
type authorizedSet struct {
	paths []string
	log   func(format string, args ...any)

	mu     sync.Mutex // guards last and warned
	last   []authorizedKey
	warned map[string]bool // warnings already logged, so rereads do not repeat them
}

// newAuthorizedSet reads paths; it fails when they hold no usable key.
func newAuthorizedSet(paths []string, log func(format string, args ...any)) (*authorizedSet, error) {
	a := &authorizedSet{paths: paths, log: log, warned: map[string]bool{}}
	skipped := 0
	keys, err := loadAuthorized(paths, func(format string, args ...any) {
		skipped++
		a.warn(format, args...)
	})
	if len(keys) == 0 {
		return nil, noKeysFail(paths, skipped, err)
	}
	if err != nil {
		a.warn("%v; using the keys of the other files", err)
	}
	a.last = keys
	return a, nil
}

func noKeysFail(paths []string, skipped int, err error) error {
	where := "the authorized keys"
	if len(paths) > 0 {
		where = strings.Join(paths, " or ")
	}
	found := "no keys"
	if skipped > 0 {
		found = fmt.Sprintf("no usable key (%d lines skipped, see the warnings)", skipped)
	}
	if err != nil {
		found += "; " + err.Error()
	}
	return report.Fail("the operator's public key in "+where, found,
		"add the operator's public key (the line of ~/.ssh/id_ed25519.pub) to one of them")
}

// current reads the keys again; see authorizedSet.
func (a *authorizedSet) current() []authorizedKey {
	keys, err := loadAuthorized(a.paths, a.warn)
	if err != nil {
		a.warn("%v", err)
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if len(keys) == 0 {
		return a.last
	}
	a.last = keys
	return keys
}

// warn logs a warning once.
func (a *authorizedSet) warn(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	a.mu.Lock()
	seen := a.warned[msg]
	a.warned[msg] = true
	a.mu.Unlock()
	if !seen {
		a.log("rescue ssh: authorized keys: %s", msg)
	}
}

// login is what one connection tried before it got in or was refused.
type login struct {
	remote  netip.Addr
	user    string
	methods []string // authentication methods tried but "none", in order, once each
	offered []string // each public key offered and why it was refused
}

// serverConfig is the configuration for one connection: public keys only,
// with l recording the attempts for the log.
func (s *Server) serverConfig(l *login) *ssh.ServerConfig {
	c := &ssh.ServerConfig{
		MaxAuthTries:  maxAuthTries,
		ServerVersion: "SSH-2.0-homestaker-rescue",
		PublicKeyCallback: func(meta ssh.ConnMetadata, key ssh.PublicKey) (*ssh.Permissions, error) {
			return s.checkKey(l, key)
		},
		AuthLogCallback: func(meta ssh.ConnMetadata, method string, err error) {
			l.user = meta.User()
			if method != "none" && !slices.Contains(l.methods, method) {
				l.methods = append(l.methods, method)
			}
		},
	}
	c.AddHostKey(s.signer)
	return c
}

// noPTYExtension marks a login whose authorized_keys line forbids a PTY.
const noPTYExtension = "no-pty"

// checkKey accepts key if an authorized_keys line holds it and admits the
// client's address. Keys are compared by their wire encoding.
func (s *Server) checkKey(l *login, key ssh.PublicKey) (*ssh.Permissions, error) {
	desc := key.Type() + " " + ssh.FingerprintSHA256(key)
	blob := key.Marshal()
	why := "not in the authorized keys"
	for _, k := range s.keys.current() {
		if !bytes.Equal(k.blob, blob) {
			continue
		}
		if k.admits(l.remote) {
			p := &ssh.Permissions{Extensions: map[string]string{"key": desc, "line": k.where}}
			if k.noPTY {
				p.Extensions[noPTYExtension] = "yes"
			}
			return p, nil
		}
		why = fmt.Sprintf("from= in %s does not admit %s", k.where, l.remote)
	}
	if entry := desc + " (" + why + ")"; !slices.Contains(l.offered, entry) {
		l.offered = append(l.offered, entry)
	}
	return nil, errors.New("rescue ssh: public key not authorized")
}

// handshake runs the key exchange and login on c, logging the outcome.
func (s *Server) handshake(c net.Conn) (*ssh.ServerConn, <-chan ssh.NewChannel, <-chan *ssh.Request, bool) {
	l := &login{remote: remoteAddr(c)}
	_ = c.SetDeadline(time.Now().Add(handshakeTimeout))
	conn, chans, reqs, err := ssh.NewServerConn(c, s.serverConfig(l))
	if err != nil {
		s.refused(c, l, err)
		return nil, nil, nil, false
	}
	_ = c.SetDeadline(time.Time{})
	p := conn.Permissions.Extensions
	s.o.Log("rescue ssh: login as %q from %s with %s (%s)", conn.User(), c.RemoteAddr(), p["key"], p["line"])
	if s.o.OnLogin != nil {
		s.o.OnLogin()
	}
	return conn, chans, reqs, true
}

// refused logs a connection that did not get in, and why.
func (s *Server) refused(c net.Conn, l *login, err error) {
	var authErr *ssh.ServerAuthError
	switch {
	case !errors.As(err, &authErr):
		s.o.Log("rescue ssh: connection from %s failed before login: %v", c.RemoteAddr(), err)
	case l.user == "":
		s.o.Log("rescue ssh: connection from %s closed before trying to log in", c.RemoteAddr())
	default:
		keys, methods := "no public key offered", "none"
		if len(l.offered) > 0 {
			keys = "offered " + strings.Join(l.offered, ", ")
		}
		if len(l.methods) > 0 {
			methods = strings.Join(l.methods, ", ")
		}
		s.o.Log("rescue ssh: refused login as %q from %s: %s; methods tried: %s (only publickey is accepted)",
			l.user, c.RemoteAddr(), keys, methods)
	}
}

// remoteAddr is c's peer address, for from= checks.
func remoteAddr(c net.Conn) netip.Addr {
	if ap, err := netip.ParseAddrPort(c.RemoteAddr().String()); err == nil {
		return ap.Addr().Unmap()
	}
	return netip.Addr{}
}
