package rescue

import (
	"fmt"
	"io"
	"os/exec"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/pkg/sftp"
	"golang.org/x/crypto/ssh"
)

// sftpDir is where relative SFTP paths start: root's home in the
// initramfs (HOME=/), where shells and commands start too.
const sftpDir = "/"

// ServeSFTP serves one SFTP session on r and w with pkg/sftp, with this
// process's (root's) view of the filesystem, until the client ends it. It
// is the body of the program Options.SFTPServer names (the init runs
// itself as `homestaker sftp-server`): pkg/sftp starts goroutines of its
// own, and a bug in one of them must end that session's process, not PID
// 1. Its errors never quote what went through.
func ServeSFTP(r io.Reader, w io.WriteCloser) error {
	srv, err := sftp.NewServer(struct {
		io.Reader
		io.WriteCloser
	}{r, w}, sftp.WithServerWorkingDirectory(sftpDir))
	if err != nil {
		return err
	}
	return srv.Serve()
}

// subsystem starts the "subsystem" request's server. Only "sftp" is
// offered: OpenSSH's sftp and, since 9.0, its scp speak it. It runs
// Options.SFTPServer, as sshd runs its sftp-server, in a process of its
// own with the init's (root's) view of the filesystem.
func (ss *session) subsystem(payload []byte) bool {
	var req struct{ Name string }
	if ssh.Unmarshal(payload, &req) != nil {
		return false
	}
	switch {
	case req.Name != "sftp":
		ss.s.o.Log("rescue ssh: %s: subsystem %q refused, only sftp is offered", ss.who, req.Name)
		return false
	case len(ss.s.o.SFTPServer) == 0:
		ss.s.o.Log("rescue ssh: %s: subsystem sftp refused, no SFTP server program is set", ss.who)
		return false
	case ss.started():
		return false
	}
	argv := ss.s.o.SFTPServer
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = ss.environ()
	cmd.Dir = sftpDir
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return false
	}
	// The key says who it was; what went through is counted, never shown.
	var in, out atomic.Int64
	cmd.Stdout = &countingWriter{w: ss.ch, n: &out}
	cmd.Stderr = ss.ch.Stderr()
	cmd.WaitDelay = outputGrace
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := ss.start(cmd, nil); err != nil {
		ss.s.o.Log("rescue ssh: %s: starting the SFTP server %s: %v", ss.who, argv[0], err)
		return false
	}
	began := time.Now()
	ss.s.o.Log("rescue ssh: %s: sftp session started (%s)", ss.who, ss.key)
	ss.spawn("copying the client's input to the SFTP server", func() {
		_, _ = io.Copy(&countingWriter{w: stdin, n: &in}, ss.ch)
		_ = stdin.Close()
	})
	ss.waiter = func() {
		ss.finish(cmd)
		ss.s.o.Log("rescue ssh: %s: sftp session ended (%s) after %s: %s received, %s sent", ss.who, describeExit(cmd),
			time.Since(began).Round(time.Second), byteCount(in.Load()), byteCount(out.Load()))
	}
	return true
}

// countingWriter counts the bytes of an SFTP session for its log line.
type countingWriter struct {
	w io.Writer
	n *atomic.Int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n.Add(int64(n))
	return n, err
}

// byteCount is n in the unit a person reads at a glance.
func byteCount(n int64) string {
	switch {
	case n < 1<<10:
		return fmt.Sprintf("%d bytes", n)
	case n < 1<<20:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
}

// legacySCP says whether an exec command is the remote end of OpenSSH's
// legacy scp protocol (`scp -O`, or an scp before 9.0): "scp [-v] [-r]
// [-p] [-d] -t|-f [--] PATH".
func legacySCP(command string) bool {
	f := strings.Fields(command)
	if len(f) < 2 || (f[0] != "scp" && !strings.HasSuffix(f[0], "/scp")) {
		return false
	}
	for _, a := range f[1:] {
		if a == "--" || !strings.HasPrefix(a, "-") {
			break
		}
		if strings.ContainsAny(a[1:], "tf") {
			return true
		}
	}
	return false
}

// legacySCPRefusal is the legacy protocol's error reply (a 1 byte, then a
// line), which scp prints as the remote's error.
const legacySCPRefusal = "\x01this rescue server speaks SFTP only, not the legacy scp protocol: run scp without -O (OpenSSH 9.0 and later use SFTP), or use sftp\n"

// refuseLegacySCP answers the legacy scp protocol with an error the
// client shows, instead of a shell's "scp: not found". The initramfs has
// no scp program: u-root's (cmds/core/scp) copies single files only and
// does not truncate a file it overwrites, which would leave the tail of a
// longer broken jwt.hex behind the fixed one.
func (ss *session) refuseLegacySCP() bool {
	if ss.started() {
		return false
	}
	ss.mu.Lock()
	ss.refused = true
	ss.mu.Unlock()
	ss.s.o.Log("rescue ssh: %s: legacy scp (scp -O) refused, SFTP only (%s)", ss.who, ss.key)
	ss.waiter = func() {
		_, _ = io.WriteString(ss.ch, legacySCPRefusal)
		_ = ss.ch.CloseWrite()
		_, _ = ss.ch.SendRequest("exit-status", false, ssh.Marshal(&struct{ Status uint32 }{1}))
		_ = ss.ch.Close()
	}
	return true
}
