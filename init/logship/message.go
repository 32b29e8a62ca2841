// Package logship copies the boot's console lines and the kernel's log to
// a syslog collector (homestaker.log=): RFC 5424 messages, one per UDP
// datagram (RFC 5426) or octet-counted on TCP (RFC 6587). Lines are kept
// in a bounded ring from the init's start and sent once the init says a
// route exists; adding a line never blocks, so a dead collector costs the
// boot nothing.
package logship

import (
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/homestaker/homestaker-boot/init/config"
	"github.com/homestaker/homestaker-boot/init/console"
)

// SDID is the structured data element's name: a private enterprise number
// style ID (RFC 5424 section 7.2.2) under 32473, the number RFC 5612
// reserves for documentation, since homestaker-boot has none of its own.
const SDID = "homestaker@32473"

// The APP-NAMEs of the two sources.
const (
	AppInit   = "homestaker-init"
	AppKernel = "kernel"
)

// Syslog facilities (RFC 5424 table 1) and severities (table 2) used here.
const (
	facilityKernel = 0
	facilityDaemon = 3

	sevErr     = 3
	sevWarning = 4
	sevNotice  = 5
	sevInfo    = 6
)

// Message is one line to send.
type Message struct {
	Time     time.Time
	Facility int
	Severity int
	App      string
	ProcID   string // "" is the nil value "-"
	Stage    string // "" when the line names no stage
	Result   string // ok, warn, failed, info, skip; "" for a line without a status
	Text     string
	order    uint64 // set by the queue
}

// results are the structured data's result values, by console status.
var results = map[console.Status]string{
	console.OK: "ok", console.Warn: "warn", console.Failed: "failed", console.Info: "info", console.Skipped: "skip",
}

var severities = map[console.Status]int{
	console.OK: sevNotice, console.Warn: sevWarning, console.Failed: sevErr, console.Info: sevInfo, console.Skipped: sevInfo,
}

// FromConsole is the message for a console line: APP-NAME homestaker-init,
// PROCID 1 (the init is PID 1), the line's stage and result.
func FromConsole(l console.Line, at time.Time) Message {
	m := Message{Time: at, Facility: facilityDaemon, Severity: sevInfo, App: AppInit, ProcID: "1", Stage: l.Stage, Text: l.Text}
	if l.Tagged {
		m.Result, m.Severity = results[l.Status], severities[l.Status]
	}
	return m
}

// Size limits of a message on the wire: RFC 5426 says receivers should
// take 2048 octets over UDP (IPv6 hosts must; IPv4 ones should), and
// rsyslog's default maximum is 8 KiB.
const (
	maxUDP = 2048
	maxTCP = 8192
)

// Format renders m as an RFC 5424 SYSLOG-MSG from host (the HOSTNAME
// field; "" or unusable is "-"), at most max octets: a longer text is cut
// on a character boundary. The text is redacted again as URLs on a
// command line are (the kernel prints its command line) and escaped as on
// the console.
func Format(m Message, host string, max int) []byte {
	var b strings.Builder
	b.WriteString("<" + strconv.Itoa(m.Facility<<3|m.Severity&7) + ">1 ")
	if m.Time.IsZero() {
		b.WriteString("-")
	} else {
		b.WriteString(m.Time.UTC().Format("2006-01-02T15:04:05.000000Z"))
	}
	b.WriteString(" " + field(host, 255) + " " + field(m.App, 48) + " " + field(m.ProcID, 128) + " - ")
	if m.Stage == "" && m.Result == "" {
		b.WriteString("-")
	} else {
		b.WriteString("[" + SDID)
		if m.Stage != "" {
			b.WriteString(` stage="` + sdValue(m.Stage) + `"`)
		}
		if m.Result != "" {
			b.WriteString(` result="` + sdValue(m.Result) + `"`)
		}
		b.WriteString("]")
	}
	text := console.Escape(config.RedactURLs(m.Text))
	if text != "" {
		b.WriteString(" ")
		room := max - b.Len()
		if room < len(text) {
			text = cut(text, room)
		}
		b.WriteString(text)
	}
	return []byte(b.String())
}

// field is a header field: 1 to n printable US-ASCII characters (RFC 5424
// section 6), else the nil value.
func field(s string, n int) string {
	if s == "" || len(s) > n {
		return "-"
	}
	for i := 0; i < len(s); i++ {
		if s[i] < 33 || s[i] > 126 {
			return "-"
		}
	}
	return s
}

// sdValue escapes '"', '\' and ']' in a PARAM-VALUE (section 6.3.3).
func sdValue(s string) string {
	if !strings.ContainsAny(s, `"\]`) {
		return s
	}
	var b strings.Builder
	for _, r := range s {
		if r == '"' || r == '\\' || r == ']' {
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return b.String()
}

// cut shortens s to at most n bytes without splitting a character.
func cut(s string, n int) string {
	if n <= 0 {
		return ""
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}
