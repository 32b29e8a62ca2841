package rescue

import (
	"fmt"
	"io"
	"os"
	"os/exec"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/creack/pty"
	"golang.org/x/crypto/ssh"
	"golang.org/x/sys/unix"
)

// outputGrace is how long a session waits, once its process has exited,
// for output from what it left running with the terminal or the pipes
// still open, before it ends without that output.
const outputGrace = 2 * time.Second

// run starts argv for a "shell" or "exec" request, in a pseudo-terminal
// if the client asked for one. A session runs one process at most.
func (ss *session) run(argv []string, what string) bool {
	if ss.started() {
		return false
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = ss.environ()
	cmd.Dir = "/"
	start := ss.startPipes
	if ss.pty != nil {
		start = ss.startPTY
	}
	if err := start(cmd); err != nil {
		ss.s.o.Log("rescue ssh: %s: starting the %s %s: %v", ss.who, what, argv[0], err)
		fmt.Fprintf(ss.ch.Stderr(), "rescue ssh: starting %s: %v\r\n", argv[0], err)
		return false
	}
	began := time.Now()
	ss.s.o.Log("rescue ssh: %s: %s started (%s)", ss.who, what, ss.terminal())
	ss.waiter = func() {
		ss.finish(cmd)
		ss.s.o.Log("rescue ssh: %s: %s ended (%s) after %s", ss.who, what, describeExit(cmd), time.Since(began).Round(time.Second))
	}
	return true
}

// environ is the init's environment for sessions, the client's locale and
// the terminal type.
func (ss *session) environ() []string {
	env := append(slices.Clone(ss.s.o.Env), ss.env...)
	if ss.pty != nil && ss.pty.Term != "" {
		env = append(env, "TERM="+ss.pty.Term)
	}
	return env
}

func (ss *session) terminal() string {
	if ss.pty == nil {
		return "no terminal"
	}
	return fmt.Sprintf("terminal %s %dx%d", ss.pty.Term, ss.pty.Cols, ss.pty.Rows)
}

// startPTY starts cmd as a session leader with a new pseudo-terminal as
// its controlling terminal.
func (ss *session) startPTY(cmd *exec.Cmd) error {
	master, tty, err := openPTY()
	if err != nil {
		return fmt.Errorf("opening a pseudo-terminal: %v", err)
	}
	defer tty.Close()
	setWinsize(master, ss.pty.Cols, ss.pty.Rows)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = tty, tty, tty
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true, Ctty: 0}
	_, _ = io.WriteString(ss.ch, ss.greeting(true))
	if err := ss.start(cmd, master); err != nil {
		_ = master.Close()
		return err
	}
	out := make(chan struct{})
	ss.spawn("copying the client's input to the terminal", func() { _, _ = io.Copy(master, ss.ch) })
	ss.spawn("copying the terminal's output to the client", func() {
		defer close(out)
		_, _ = io.Copy(ss.ch, master)
	})
	ss.drain = func() {
		// The copy ends when no process holds the terminal any more.
		select {
		case <-out:
		case <-time.After(outputGrace):
		}
		_ = master.Close()
		<-out
	}
	return nil
}

// startPipes starts cmd as a session leader with pipes for its standard
// streams. The greeting goes to stderr, so that the output of a command
// such as "cat report.json" stays clean.
func (ss *session) startPipes(cmd *exec.Cmd) error {
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return err
	}
	cmd.Stdout, cmd.Stderr = ss.ch, ss.ch.Stderr()
	cmd.WaitDelay = outputGrace
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	_, _ = io.WriteString(ss.ch.Stderr(), ss.greeting(false))
	if err := ss.start(cmd, nil); err != nil {
		return err
	}
	ss.spawn("copying the client's input to the process", func() {
		_, _ = io.Copy(stdin, ss.ch)
		_ = stdin.Close()
	})
	return nil
}

// start starts cmd through Options.Start and records it for signals.
func (ss *session) start(cmd *exec.Cmd, master *os.File) error {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	if err := ss.s.o.Start(cmd); err != nil {
		return err
	}
	ss.cmd, ss.master = cmd, master
	return nil
}

// finish waits for cmd and its output, then tells the client how it
// ended and closes the channel.
func (ss *session) finish(cmd *exec.Cmd) {
	_ = cmd.Wait()
	ss.s.o.Done(cmd)
	ss.mu.Lock()
	ss.exited = true
	ss.mu.Unlock()
	if ss.drain != nil {
		ss.drain()
	}
	_ = ss.ch.CloseWrite()
	sendExit(ss.ch, cmd.ProcessState)
	_ = ss.ch.Close()
}

// sendExit sends "exit-status", or "exit-signal" for a process a signal
// ended (RFC 4254 6.10). Without a state (the process was collected by
// someone else) the status is 255, as OpenSSH reports a lost one.
func sendExit(ch ssh.Channel, st *os.ProcessState) {
	ws, _ := exitWaitStatus(st)
	if ws.Signaled() {
		msg := struct {
			Signal     string
			CoreDumped bool
			Error      string
			Lang       string
		}{strings.TrimPrefix(unix.SignalName(ws.Signal()), "SIG"), ws.CoreDump(), "", ""}
		_, _ = ch.SendRequest("exit-signal", false, ssh.Marshal(&msg))
		return
	}
	status := uint32(255)
	if st != nil {
		status = uint32(ws.ExitStatus())
	}
	_, _ = ch.SendRequest("exit-status", false, ssh.Marshal(&struct{ Status uint32 }{status}))
}

func exitWaitStatus(st *os.ProcessState) (syscall.WaitStatus, bool) {
	if st == nil {
		return 0, false
	}
	ws, ok := st.Sys().(syscall.WaitStatus)
	return ws, ok
}

// describeExit says how cmd ended, for the log.
func describeExit(cmd *exec.Cmd) string {
	ws, ok := exitWaitStatus(cmd.ProcessState)
	switch {
	case !ok:
		return "exit status unknown: something else collected the process; pass early.Start and early.Done in rescue.Options"
	case ws.Signaled():
		return "killed by " + unix.SignalName(ws.Signal())
	}
	return fmt.Sprintf("exit status %d", ws.ExitStatus())
}

// resize applies a "window-change", before or after the shell starts.
func (ss *session) resize(cols, rows uint32) {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	if ss.pty != nil {
		ss.pty.Cols, ss.pty.Rows = cols, rows
	}
	if ss.master != nil {
		setWinsize(ss.master, cols, rows)
	}
}

// openPTY opens a pseudo-terminal. pty.Open leaves the master blocking,
// and a Close does not interrupt a blocked Read on a blocking file; a
// non-blocking duplicate goes through Go's poller, so closing it ends the
// copy even while a background process holds the terminal.
func openPTY() (master, tty *os.File, err error) {
	m, tty, err := pty.Open()
	if err != nil {
		return nil, nil, err
	}
	defer m.Close()
	fd, err := unix.FcntlInt(m.Fd(), unix.F_DUPFD_CLOEXEC, 0)
	if err != nil {
		_ = tty.Close()
		return nil, nil, err
	}
	if err := unix.SetNonblock(fd, true); err != nil {
		_ = unix.Close(fd)
		_ = tty.Close()
		return nil, nil, err
	}
	return os.NewFile(uintptr(fd), "/dev/ptmx"), tty, nil
}

// setWinsize sets the terminal size without f.Fd, which would make f
// blocking again.
func setWinsize(f *os.File, cols, rows uint32) {
	ws := &unix.Winsize{Row: clamp16(rows), Col: clamp16(cols)}
	sc, err := f.SyscallConn()
	if err != nil {
		return
	}
	_ = sc.Control(func(fd uintptr) { _ = unix.IoctlSetWinsize(int(fd), unix.TIOCSWINSZ, ws) })
}

func clamp16(v uint32) uint16 {
	return uint16(min(v, 0xffff))
}
