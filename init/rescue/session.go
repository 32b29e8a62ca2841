package rescue

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"strings"
	"sync"

	"golang.org/x/crypto/ssh"
	"golang.org/x/sys/unix"

	"github.com/homestaker/homestaker-boot/init/panics"
)

// handle serves one connection until the client or Close ends it;
// authenticated is called once the client has logged in.
func (s *Server) handle(c net.Conn, authenticated func()) {
	conn, chans, reqs, ok := s.handshake(c)
	if !ok {
		return
	}
	authenticated()
	defer conn.Close()
	who := fmt.Sprintf("%s@%s", conn.User(), c.RemoteAddr())
	var wg sync.WaitGroup
	// Global requests are port forwardings and keepalives: refused. If
	// they are no longer read, the connection stalls: it ends instead.
	wg.Go(func() {
		if panics.Run("refusing the global requests of "+who, s.o.Log, func() { ssh.DiscardRequests(reqs) }) != nil {
			_ = conn.Close()
		}
	})
	for nc := range chans {
		if nc.ChannelType() != "session" {
			_ = nc.Reject(ssh.UnknownChannelType, "the rescue server offers only sessions")
			continue
		}
		ch, creqs, err := nc.Accept()
		if err != nil {
			s.o.Log("rescue ssh: %s: accepting a session: %v", who, err)
			continue
		}
		noPTY := conn.Permissions.Extensions[noPTYExtension] != ""
		key := conn.Permissions.Extensions["key"]
		wg.Go(func() { s.session(ch, creqs, who, key, noPTY) })
	}
	wg.Wait()
	s.o.Log("rescue ssh: %s: connection closed", who)
}

// session is one "session" channel: at most one shell or command.
type session struct {
	s     *Server
	ch    ssh.Channel
	who   string
	key   string   // the login's key, type and fingerprint, for the log
	noPTY bool     // the key's line says no-pty or restrict
	env   []string // from env requests
	pty   *ptyRequest
	wg    sync.WaitGroup // the process's waiter and the copying goroutines

	// waiter waits for the process and closes the channel. It starts
	// once the request that started the process has been answered, so
	// that the exit status and the close never overtake the reply.
	waiter func()
	// drain, set before the waiter starts, waits for the output of a
	// process in a PTY.
	drain func()

	mu      sync.Mutex // guards master, cmd, refused and exited
	master  *os.File   // the PTY's master side while a shell runs in one
	cmd     *exec.Cmd  // set once started
	refused bool       // the session answered legacy scp with a refusal
	exited  bool       // cmd has been waited for
}

// ptyRequest is the payload of "pty-req" (RFC 4254 6.2).
type ptyRequest struct {
	Term          string
	Cols, Rows    uint32
	Width, Height uint32
	Modes         string
}

// windowChange is the payload of "window-change" (RFC 4254 6.7).
type windowChange struct {
	Cols, Rows    uint32
	Width, Height uint32
}

// session serves ch's requests; when the client closes the channel, or
// the connection goes, the process group is killed. A bug in serving the
// session ends it, not the server.
func (s *Server) session(ch ssh.Channel, reqs <-chan *ssh.Request, who, key string, noPTY bool) {
	ss := &session{s: s, ch: ch, who: who, key: key, noPTY: noPTY}
	if err := panics.Run("a rescue ssh session of "+who, s.o.Log, func() { ss.serve(reqs) }); err != nil {
		_, _ = fmt.Fprintf(ch.Stderr(), "rescue ssh: %v; this session ends (the node's console has the details)\r\n", err)
		ss.end()
		// Requests go on arriving until the client has seen the close;
		// left unread, they would stall the whole connection.
		for req := range reqs {
			if req.WantReply {
				_ = req.Reply(false, nil)
			}
		}
	}
	if ss.waiter != nil {
		// A process started before the panic is still to be collected.
		ss.spawn("waiting for the process", ss.waiter)
	}
	ss.kill()
	ss.wg.Wait()
	_ = ch.Close()
}

// serve carries out ch's requests until the client closes the channel.
func (ss *session) serve(reqs <-chan *ssh.Request) {
	for req := range reqs {
		ok := ss.request(req)
		if req.WantReply {
			_ = req.Reply(ok, nil)
		}
		if ss.waiter != nil {
			ss.spawn("waiting for the process", ss.waiter)
			ss.waiter = nil
		}
	}
}

// spawn runs f in a goroutine of the session. A bug there ends the
// session: the process is killed and the channel closed.
func (ss *session) spawn(what string, f func()) {
	ss.wg.Go(func() {
		if panics.Run(what+" of a rescue ssh session of "+ss.who, ss.s.o.Log, f) != nil {
			ss.end()
		}
	})
}

// end kills the process group and closes the channel, which ends the
// copies and, once the client has closed too, the requests.
func (ss *session) end() {
	ss.kill()
	_ = ss.ch.Close()
}

// request carries out one channel request and says whether it succeeded.
func (ss *session) request(req *ssh.Request) bool {
	switch req.Type {
	case "pty-req":
		return ss.requestPTY(req.Payload)
	case "window-change":
		var w windowChange
		if ssh.Unmarshal(req.Payload, &w) != nil {
			return false
		}
		ss.resize(w.Cols, w.Rows)
		return true
	case "env":
		return ss.setenv(req.Payload)
	case "shell":
		return len(req.Payload) == 0 && ss.run(ss.s.o.Shell, "shell")
	case "exec":
		var e struct{ Command string }
		if ssh.Unmarshal(req.Payload, &e) != nil {
			return false
		}
		if legacySCP(e.Command) {
			return ss.refuseLegacySCP()
		}
		return ss.run([]string{ss.s.o.Shell[0], "-c", e.Command}, "command")
	case "subsystem":
		return ss.subsystem(req.Payload)
	case "signal":
		var sig struct{ Signal string }
		return ssh.Unmarshal(req.Payload, &sig) == nil && ss.signal(sig.Signal)
	}
	// x11-req, auth-agent-req@openssh.com and the rest: refused, as
	// forwardings are (see handle).
	return false
}

func (ss *session) requestPTY(payload []byte) bool {
	var p ptyRequest
	if ss.started() || ssh.Unmarshal(payload, &p) != nil {
		return false
	}
	if ss.noPTY {
		ss.s.o.Log("rescue ssh: %s: PTY refused, the key's authorized_keys line says no-pty or restrict", ss.who)
		return false
	}
	ss.pty = &p
	return true
}

// setenv takes the locale variables and refuses the rest: the init's
// environment for the shell is not the client's to change.
func (ss *session) setenv(payload []byte) bool {
	var e struct{ Name, Value string }
	if ss.started() || ssh.Unmarshal(payload, &e) != nil {
		return false
	}
	if e.Name != "LANG" && !strings.HasPrefix(e.Name, "LC_") {
		return false
	}
	ss.env = append(ss.env, e.Name+"="+e.Value)
	return true
}

func (ss *session) started() bool {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	return ss.cmd != nil || ss.refused
}

// signal delivers a client's "signal" request (a name without SIG) to
// the process group.
func (ss *session) signal(name string) bool {
	sig := unix.SignalNum("SIG" + name)
	ss.mu.Lock()
	defer ss.mu.Unlock()
	if sig == 0 || ss.cmd == nil || ss.exited {
		return false
	}
	return unix.Kill(-ss.cmd.Process.Pid, sig) == nil
}

// kill ends the process group of a process still running when the
// channel closes. It was started as a session leader, so the group is its
// pid. Once it has exited, what it left running in the background (with
// nohup, say) is left alone, as OpenSSH does.
func (ss *session) kill() {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	if ss.cmd != nil && !ss.exited {
		_ = unix.Kill(-ss.cmd.Process.Pid, unix.SIGKILL)
	}
}

// greeting is Options.Greeting's text with the line ends a terminal needs
// when crlf is set.
func (ss *session) greeting(crlf bool) string {
	if ss.s.o.Greeting == nil {
		return ""
	}
	g := ss.s.o.Greeting()
	if g != "" && !strings.HasSuffix(g, "\n") {
		g += "\n"
	}
	if crlf {
		g = strings.ReplaceAll(strings.ReplaceAll(g, "\r\n", "\n"), "\n", "\r\n")
	}
	return g
}
