package rescue

import (
	"fmt"
	"io"
	"strings"
	"sync/atomic"
	"time"

	"github.com/pkg/sftp"
	"golang.org/x/crypto/ssh"
)

// sftpDir is where relative SFTP paths start: root's home in the
// initramfs (HOME=/), where shells and commands start too.
const sftpDir = "/"

// subsystem starts the "subsystem" request's server. Only "sftp" is
// offered: OpenSSH's sftp and, since 9.0, its scp speak it. It is served
// in this process by pkg/sftp, with the init's (root's) view of the
// filesystem, as OpenSSH's internal-sftp would serve root.
func (ss *session) subsystem(payload []byte) bool {
	var req struct{ Name string }
	if ssh.Unmarshal(payload, &req) != nil {
		return false
	}
	if req.Name != "sftp" {
		ss.s.o.Log("rescue ssh: %s: subsystem %q refused, only sftp is offered", ss.who, req.Name)
		return false
	}
	if ss.started() {
		return false
	}
	ss.mu.Lock()
	ss.sftp = true
	ss.mu.Unlock()
	counted := &countingChannel{Channel: ss.ch}
	srv, err := sftp.NewServer(counted, sftp.WithServerWorkingDirectory(sftpDir))
	if err != nil {
		ss.s.o.Log("rescue ssh: %s: starting the sftp server: %v", ss.who, err)
		return false
	}
	began := time.Now()
	// The key says who it was; what went through is counted, never shown.
	ss.s.o.Log("rescue ssh: %s: sftp session started (%s)", ss.who, ss.key)
	ss.waiter = func() {
		err := srv.Serve()
		status := uint32(0)
		how := "ended"
		if err != nil {
			status, how = 1, fmt.Sprintf("failed (%v)", err)
		}
		ss.s.o.Log("rescue ssh: %s: sftp session %s after %s: %s received, %s sent", ss.who, how,
			time.Since(began).Round(time.Second), byteCount(counted.in.Load()), byteCount(counted.out.Load()))
		_ = ss.ch.CloseWrite()
		_, _ = ss.ch.SendRequest("exit-status", false, ssh.Marshal(&struct{ Status uint32 }{status}))
		_ = ss.ch.Close()
	}
	return true
}

// countingChannel counts the bytes of an SFTP session for its log line.
type countingChannel struct {
	ssh.Channel
	in, out atomic.Int64
}

func (c *countingChannel) Read(p []byte) (int, error) {
	n, err := c.Channel.Read(p)
	c.in.Add(int64(n))
	return n, err
}

func (c *countingChannel) Write(p []byte) (int, error) {
	n, err := c.Channel.Write(p)
	c.out.Add(int64(n))
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
// client shows, instead of a shell's "scp: not found": the initramfs has
// no scp program, and u-root's does not truncate a file it overwrites.
func (ss *session) refuseLegacySCP() bool {
	if ss.started() {
		return false
	}
	ss.mu.Lock()
	ss.sftp = true // the session's one use
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
