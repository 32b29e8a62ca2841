// Package control lets a rescue shell ask the init to run the boot plan
// again (`homestaker retry`) after the operator fixed what stopped it, and
// follow the retried boot's console lines.
//
// The init listens on a Unix socket in /run. A client sends one line,
// "retry", and reads console lines until the init closes the connection:
// after a last line starting with EndPrefix when the boot stopped again,
// or without one when the handover took the machine.
package control

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/homestaker/homestaker-boot/init/panics"
)

// Socket is where the init listens.
const Socket = "/run/homestaker/control.sock"

// EndPrefix starts the last line of a retry that stopped again.
const EndPrefix = "homestaker retry: "

// writeTimeout bounds one write to a client: a stalled rescue session must
// not hold up the console.
const writeTimeout = 2 * time.Second

// Request is one retry asked for. The boot's console lines go to Out until
// Finish.
type Request struct {
	conn net.Conn
	once sync.Once
}

// Write sends console output to the client; it never blocks for long.
func (r *Request) Write(p []byte) (int, error) {
	_ = r.conn.SetWriteDeadline(time.Now().Add(writeTimeout))
	return r.conn.Write(p)
}

// Finish ends the request with the outcome the client shows and closes
// the connection.
func (r *Request) Finish(format string, args ...any) {
	r.once.Do(func() {
		fmt.Fprintf(r, "%s%s\r\n", EndPrefix, fmt.Sprintf(format, args...))
		r.conn.Close()
	})
}

// Server accepts retry requests.
type Server struct {
	ln   net.Listener
	reqs chan *Request
	logf func(format string, args ...any) // where a bug in serving a client is reported
	// requested, if set, is called with each request line; a test makes
	// it panic.
	requested func(line string)
}

// Listen starts the server on path, replacing a stale socket. logf gets
// the report of a bug in serving a client, stack and all.
func Listen(path string, logf func(format string, args ...any)) (*Server, error) {
	_ = os.Remove(path)
	ln, err := net.Listen("unix", path)
	if err != nil {
		return nil, err
	}
	s := &Server{ln: ln, reqs: make(chan *Request), logf: logf}
	go s.serve()
	return s, nil
}

// Requests delivers retry requests; one is taken at a time, and a client
// that asks while a retry runs waits for its turn.
func (s *Server) Requests() <-chan *Request {
	if s == nil {
		return nil
	}
	return s.reqs
}

// Close stops listening.
func (s *Server) Close() error { return s.ln.Close() }

// serve accepts clients until Close. A bug in the loop does not end it:
// `homestaker retry` is the operator's way to get the boot going again.
func (s *Server) serve() {
	for panics.Run("the control socket's accept loop", s.logf, s.accept) != nil {
		time.Sleep(time.Second)
	}
}

func (s *Server) accept() {
	for {
		c, err := s.ln.Accept()
		if err != nil {
			return
		}
		go s.handle(c)
	}
}

// handle reads one client's request; a bug ends that request only.
func (s *Server) handle(c net.Conn) {
	if err := panics.Run("a control socket request", s.logf, func() { s.read(c) }); err != nil {
		_ = c.SetWriteDeadline(time.Now().Add(writeTimeout))
		fmt.Fprintf(c, "%s%v; the init's console has the details\r\n", EndPrefix, err)
		c.Close()
	}
}

func (s *Server) read(c net.Conn) {
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	line, err := bufio.NewReader(io.LimitReader(c, 64)).ReadString('\n')
	_ = c.SetReadDeadline(time.Time{})
	if s.requested != nil {
		s.requested(line)
	}
	if err != nil || strings.TrimSpace(line) != "retry" {
		fmt.Fprintf(c, "%sunknown request %q; the init understands \"retry\"\r\n", EndPrefix, strings.TrimSpace(line))
		c.Close()
		return
	}
	s.reqs <- &Request{conn: c}
}

// Retry is the client: it asks the init listening on path to retry the
// boot and copies the boot's lines to out. It returns 0 when the boot went
// on to the handover, 1 when it stopped again, 2 when no init answered.
func Retry(path string, out io.Writer) int {
	c, err := net.Dial("unix", path)
	if err != nil {
		fmt.Fprintf(out, "homestaker retry: no boot to retry: %v\n(this works in the rescue shell of a stopped boot)\n", err)
		return 2
	}
	defer c.Close()
	if _, err := io.WriteString(c, "retry\n"); err != nil {
		fmt.Fprintf(out, "homestaker retry: %v\n", err)
		return 2
	}
	fmt.Fprintf(out, "homestaker retry: running the boot again from the stage that failed\n")
	sc := bufio.NewScanner(c)
	for sc.Scan() {
		line := strings.TrimRight(sc.Text(), "\r")
		fmt.Fprintf(out, "%s\n", line)
		if strings.HasPrefix(line, EndPrefix) {
			return 1
		}
	}
	if err := sc.Err(); err != nil && !errors.Is(err, net.ErrClosed) {
		fmt.Fprintf(out, "homestaker retry: %v\n", err)
	}
	fmt.Fprintf(out, "homestaker retry: the boot went on to the handover; this session ends with it\n")
	return 0
}
