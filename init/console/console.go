// Package console prints the boot's status to the operator: one
// systemd-like status line per stage on the console, the same text in the
// kernel log, and the failure banner.
//
// Nothing secret is ever handed to this package; callers pass facts only.
package console

import (
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"
)

// Status is the result word in front of a status line.
type Status int

const (
	OK Status = iota
	Warn
	Failed
	Info
	Skipped
)

var tags = [...]string{
	OK:      "[  OK  ]",
	Warn:    "[ WARN ]",
	Failed:  "[FAILED]",
	Info:    "[ INFO ]",
	Skipped: "[ SKIP ]",
}

func (s Status) String() string { return tags[s] }

// Console writes status lines. It is safe for concurrent use: network and
// storage report at the same time, and a line is never interleaved.
type Console struct {
	mu   sync.Mutex // guards out, kmsg, tees and writes to them
	out  io.Writer
	kmsg io.Writer // nil when /dev/kmsg is not available
	tees map[*tee]bool
	last time.Time  // when the last line was written
	fwd  func(Line) // Forward's function; nil when none
}

// Line is one line as the console wrote it, escaped: what a copy that
// leaves the machine (init/logship) gets.
type Line struct {
	Stage  string // the stage the line is about; "" when it names none
	Status Status // meaningful when Tagged
	Tagged bool   // a status line (or the failure banner, Failed)
	Text   string // as printed, status tag and all
}

// about is what write knows of a text besides the text.
type about struct {
	stage  string
	status Status
	tagged bool
}

// LastLine is when the last line was written: the boot's sign of life.
func (c *Console) LastLine() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.last
}

type tee struct{ w io.Writer }

// Tee copies every line from now on to w as well (a rescue session
// following a retried boot), until the returned function is called. A
// write error on w ends its copy; the console goes on.
func (c *Console) Tee(w io.Writer) (stop func()) {
	t := &tee{w}
	c.mu.Lock()
	if c.tees == nil {
		c.tees = map[*tee]bool{}
	}
	c.tees[t] = true
	c.mu.Unlock()
	return func() {
		c.mu.Lock()
		delete(c.tees, t)
		c.mu.Unlock()
	}
}

// Forward hands every line from now on to f as well, after Escape: the
// same text the console shows, so a copy sent away holds nothing the
// console would not. f runs under the console's lock and must not block.
func (c *Console) Forward(f func(Line)) {
	c.mu.Lock()
	c.fwd = f
	c.mu.Unlock()
}

// New returns a Console writing to out and, when kmsg is not nil, to the
// kernel log.
func New(out, kmsg io.Writer) *Console {
	return &Console{out: out, kmsg: kmsg}
}

// Open returns a Console on /dev/console and /dev/kmsg, falling back to
// stdout when /dev/console cannot be opened (the kernel already gave PID 1
// the console as stdout, but not when started by hand for a test).
func Open() *Console {
	var out io.Writer = os.Stdout
	if f, err := os.OpenFile("/dev/console", os.O_WRONLY|os.O_APPEND, 0); err == nil {
		out = f
	}
	var kmsg io.Writer
	if f, err := os.OpenFile("/dev/kmsg", os.O_WRONLY, 0); err == nil {
		kmsg = f
	}
	return New(out, kmsg)
}

// Uptime is the time since the kernel started, the clock the operator sees
// in dmesg, so console lines and kernel messages line up.
func Uptime() time.Duration {
	b, err := os.ReadFile("/proc/uptime")
	if err != nil {
		return 0
	}
	var secs float64
	if _, err := fmt.Sscanf(string(b), "%f", &secs); err != nil {
		return 0
	}
	return time.Duration(secs * float64(time.Second))
}

// Status prints one status line: `[  OK  ] storage: homestaker mounted`.
func (c *Console) Status(s Status, stage, format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	c.write(about{stage, s, true}, s.String()+" "+stage+": "+msg)
}

// Progress prints a stage's line without a status tag, indented under
// the tags: `         network: eth0: waiting for a carrier`.
func (c *Console) Progress(stage, msg string) {
	c.write(about{stage: stage}, "         "+stage+": "+strings.TrimRight(msg, "\n"))
}

// Printf prints a plain line (progress, notices) without a status tag.
func (c *Console) Printf(format string, args ...any) {
	c.write(about{}, strings.TrimRight(fmt.Sprintf(format, args...), "\n"))
}

// Write lets the console be used as an io.Writer (for example as a log
// output); each call is printed as it is.
func (c *Console) Write(p []byte) (int, error) {
	c.write(about{}, strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

func (c *Console) write(a about, text string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.last = time.Now()
	for _, line := range strings.Split(text, "\n") {
		line = Escape(line)
		fmt.Fprintf(c.out, "%s\r\n", line)
		for t := range c.tees {
			if _, err := fmt.Fprintf(t.w, "%s\r\n", line); err != nil {
				delete(c.tees, t)
			}
		}
		if c.kmsg != nil {
			// Debug level (7) keeps the kernel from echoing the line to
			// the console a second time at the default loglevel; the
			// status tag in the text keeps the severity for dmesg.
			fmt.Fprintf(c.kmsg, "<7>homestaker: %s\n", line)
		}
		if c.fwd != nil {
			c.fwd(Line{Stage: a.stage, Status: a.status, Tagged: a.tagged, Text: line})
		}
	}
}
