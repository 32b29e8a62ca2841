package vmtest

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// Collector is Debian's rsyslogd, run by the test in the foreground with
// its own configuration, receiving on a free port of host loopback (which
// the guest reaches as 10.0.2.2). It writes each message twice: as
// received (raw.log) and as rsyslog parsed it into RFC 5424's fields
// (fields.log), so that a test sees both the bytes and that rsyslog read
// them as RFC 5424.
type Collector struct {
	Port int
	dir  string
}

// Record is one message in fields.log.
type Record struct {
	Received, Reported time.Time // rsyslog's timegenerated, the message's TIMESTAMP
	Version            string
	Host, App, ProcID  string
	MsgID, SD, Msg     string
}

func StartRsyslog(t testing.TB, proto string) *Collector {
	t.Helper()
	if _, err := exec.LookPath("rsyslogd"); err != nil {
		t.Fatalf("rsyslogd is not installed (make deps installs Debian's rsyslog): %v", err)
	}
	dir := t.TempDir()
	c := &Collector{dir: dir}
	if proto == "udp" {
		c.Port = freeUDPPort(t)
	} else {
		c.Port = freeTCPPort(t)
	}
	conf := fmt.Sprintf(`global(workDirectory="%[1]s")
module(load="im%[2]s")
input(type="im%[2]s" address="127.0.0.1" port="%[3]d")
template(name="fields" type="list") {
  property(name="timegenerated" dateFormat="rfc3339") constant(value="|")
  property(name="timereported" dateFormat="rfc3339") constant(value="|")
  property(name="protocol-version") constant(value="|")
  property(name="hostname") constant(value="|")
  property(name="app-name") constant(value="|")
  property(name="procid") constant(value="|")
  property(name="msgid") constant(value="|")
  property(name="structured-data") constant(value="|")
  property(name="msg") constant(value="\n")
}
template(name="raw" type="string" string="%%rawmsg%%\n")
if $inputname == "im%[2]s" then {
  action(type="omfile" file="%[1]s/fields.log" template="fields")
  action(type="omfile" file="%[1]s/raw.log" template="raw")
}
`, dir, proto, c.Port)
	confPath := filepath.Join(dir, "rsyslog.conf")
	if err := os.WriteFile(confPath, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	stderr, err := os.Create(filepath.Join(dir, "stderr"))
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("rsyslogd", "-n", "-f", confPath, "-i", filepath.Join(dir, "rsyslogd.pid"))
	cmd.Stdout, cmd.Stderr = stderr, stderr
	if err := cmd.Start(); err != nil {
		t.Fatalf("rsyslogd: %v", err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
		stderr.Close()
		if t.Failed() {
			for _, f := range []string{"stderr", "raw.log"} {
				b, _ := os.ReadFile(filepath.Join(dir, f))
				t.Logf("rsyslog %s:\n%s", f, b)
			}
		}
	})
	// Ready once a probe message comes out (rsyslogd says nothing of its
	// start when run this way); Records and Raw leave probes out.
	for i := 0; ; i++ {
		if conn, err := net.Dial(proto, fmt.Sprintf("127.0.0.1:%d", c.Port)); err == nil {
			msg := "<13>1 - - probe - - - ready"
			if proto == "tcp" {
				msg = fmt.Sprintf("%d %s", len(msg), msg)
			}
			conn.Write([]byte(msg))
			conn.Close()
		}
		b, _ := os.ReadFile(filepath.Join(dir, "raw.log"))
		if strings.Contains(string(b), "probe") {
			break
		}
		if i > 100 {
			b, _ := os.ReadFile(filepath.Join(dir, "stderr"))
			t.Fatalf("rsyslogd did not start:\n%s", b)
		}
		time.Sleep(100 * time.Millisecond)
	}
	return c
}

// Raw is everything the collector received, as received, but probes.
func (c *Collector) Raw() string {
	b, _ := os.ReadFile(filepath.Join(c.dir, "raw.log"))
	var out []string
	for _, l := range strings.SplitAfter(string(b), "\n") {
		if !strings.Contains(l, " probe - - - ") {
			out = append(out, l)
		}
	}
	return strings.Join(out, "")
}

// Records are the messages as rsyslog parsed them.
func (c *Collector) Records() []Record {
	b, _ := os.ReadFile(filepath.Join(c.dir, "fields.log"))
	var out []Record
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.SplitN(line, "|", 9)
		if len(f) != 9 {
			continue
		}
		got, _ := time.Parse(time.RFC3339Nano, f[0])
		rep, _ := time.Parse(time.RFC3339Nano, f[1])
		if f[4] == "probe" {
			continue
		}
		out = append(out, Record{got, rep, f[2], f[3], f[4], f[5], f[6], f[7], f[8]})
	}
	return out
}

// Wait waits, at most a minute, for a message containing s.
func (c *Collector) Wait(t testing.TB, s string) Record {
	t.Helper()
	for i := 0; i < 600; i++ {
		for _, r := range c.Records() {
			if strings.Contains(r.Msg, s) {
				return r
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("the collector got no message containing %q", s)
	return Record{}
}

func (c *Collector) find(s string) (Record, bool) {
	for _, r := range c.Records() {
		if strings.Contains(r.Msg, s) {
			return r, true
		}
	}
	return Record{}, false
}

// rawRFC5424 is the start of an RFC 5424 message: PRI, VERSION 1,
// TIMESTAMP, HOSTNAME, APP-NAME, PROCID, MSGID, then the structured data
// (nil or one of ours).
var rawRFC5424 = regexp.MustCompile(`^<\d{1,3}>1 \d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z \S{1,255} (homestaker-init 1|kernel -) - (-|\[homestaker@32473( stage="[a-z]+")?( result="(ok|warn|failed|info|skip)")?\])( |$)`)

// checkBootLog checks what a boot sent to c: the banner (written before
// the network was up), each stage up to the handover with its stage and
// result as structured data, the kernel's lines, RFC 5424 throughout, and
// none of the disk's secrets nor the credentials of a URL on the command
// line.
func checkBootLog(t *testing.T, c *Collector, secrets []string) {
	t.Helper()
	handover := c.Wait(t, "[  OK  ] handover: kexec into /next/bzImage")
	banner, ok := c.find("init started at")
	if !ok {
		t.Fatal("the collector lacks the banner, the init's first line")
	}
	if banner.App != "homestaker-init" || banner.SD != "-" || banner.Version != "1" || banner.ProcID != "1" {
		t.Errorf("banner record %+v", banner)
	}
	network, ok := c.find("[  OK  ] network:")
	if !ok {
		t.Fatal("no network line")
	}
	// Queued from the start: the banner's TIMESTAMP is when the console
	// wrote it, before the network stage ended.
	if !banner.Reported.Before(network.Reported) {
		t.Errorf("banner reported at %s, not before the network line at %s", banner.Reported, network.Reported)
	}
	for stage, r := range map[string]Record{"network": network, "handover": handover} {
		if want := `[homestaker@32473 stage="` + stage + `" result="ok"]`; r.SD != want || r.App != "homestaker-init" {
			t.Errorf("%s record: app %q, structured data %q, want %q", stage, r.App, r.SD, want)
		}
	}
	if r, ok := c.find("[  OK  ] early:"); !ok || r.SD != `[homestaker@32473 stage="early" result="ok"]` {
		t.Errorf("early line: %+v %v", r, ok)
	}
	if r, ok := c.find("Linux version"); !ok || r.App != "kernel" || r.ProcID != "-" {
		t.Errorf("the kernel's first line: %+v %v", r, ok)
	}
	raw := c.Raw()
	lines := strings.Split(strings.TrimRight(raw, "\n"), "\n")
	for _, l := range lines {
		if !rawRFC5424.MatchString(l) {
			t.Errorf("not an RFC 5424 message of ours: %.160q", l)
		}
	}
	for _, r := range c.Records() {
		if r.Version != "1" {
			t.Errorf("rsyslog did not parse as RFC 5424 (version %q): %q", r.Version, r.Msg)
		}
	}
	t.Logf("the collector got %d messages; the first and the handover's as received:\n%s", len(lines), lines[0])
	for _, l := range lines {
		if strings.Contains(l, "[  OK  ] handover:") {
			t.Logf("%s", l)
		}
	}
	for _, s := range secrets {
		if strings.Contains(raw, s) {
			t.Errorf("the collector got a secret value (%d characters)", len(s))
		}
	}
	if strings.Contains(raw, "lines were dropped") {
		t.Errorf("lines lost:\n%s", raw)
	}
}

// Over UDP on the LAN, with a source URL carrying credentials on the
// command line, which the kernel prints: the collector gets its host but
// not its user, password or query. The static ip= names the node, and
// every message carries the name, the early ones too (the name is put
// on at sending).
func TestSyslogUDPOnLAN(t *testing.T) {
	col := StartRsyslog(t, "udp")
	d := PrepareDisk(t, WithTunnel...)
	args := []string{"homestaker.next=initramfs:/next,http://op:pa55w0rd-x@10.0.2.2:9/next/?token=t0ken-x", "homestaker.onfail=poweroff", "homestaker.wg=off",
		"ip=10.0.2.77::10.0.2.2:255.255.255.0:node7:eth0:none", fmt.Sprintf("homestaker.log=syslog+udp://10.0.2.2:%d", col.Port)}
	vm := Boot(t, stage2Initramfs(t), args, Drive(d.Path))
	vm.Expect("[  OK  ] handover: kexec into /next/bzImage")
	expectStage2(t, vm)
	checkBootLog(t, col, append(d.Secrets(), "pa55w0rd-x", "t0ken-x"))
	if _, ok := col.find("10.0.2.2:9/next/"); !ok {
		t.Errorf("the kernel's command line did not reach the collector:\n%s", col.Raw())
	}
	for _, r := range col.Records() {
		if r.Host != "node7" {
			t.Errorf("HOSTNAME %q, want node7: %q", r.Host, r.Msg)
			break
		}
	}
}

// Over TCP through the tunnel: the collector is at the hub's tunnel
// address only (a listener in the host peer's network stack, copying to
// rsyslogd). The shipper waits for the tunnel rather than sending into
// the LAN, and the handover's line arrives: it is flushed before the
// tunnel goes down.
func TestSyslogTCPThroughTunnel(t *testing.T) {
	col := StartRsyslog(t, "tcp")
	peer := StartPeer(t, "10.99.0.1")
	if err := peer.ForwardTCP(514, fmt.Sprintf("127.0.0.1:%d", col.Port)); err != nil {
		t.Fatal(err)
	}
	d := tunnelDisk(t, peer)
	args := []string{"homestaker.next=initramfs:/next", "homestaker.onfail=poweroff", "homestaker.wg=required", "homestaker.log=syslog+tcp://10.99.0.1:514"}
	vm := Boot(t, stage2Initramfs(t), args, Drive(d.Path))
	out := vm.Expect("[ INFO ] log: sending to syslog+tcp://10.99.0.1:514")
	if !strings.Contains(out, "[  OK  ] wireguard:") {
		t.Errorf("the shipper connected before the tunnel was up:\n%s", out)
	}
	out = vm.Expect("[  OK  ] handover: kexec into /next/bzImage")
	out += expectStage2(t, vm)
	if strings.Contains(out, "log: before the handover") || strings.Contains(out, "not reached") {
		t.Errorf("the shipper did not get through:\n%s", out)
	}
	checkBootLog(t, col, d.Secrets())
	if r, ok := col.find("[  OK  ] wireguard:"); !ok || r.SD != `[homestaker@32473 stage="wireguard" result="ok"]` {
		t.Errorf("wireguard line: %+v %v", r, ok)
	}
}

// A boot that stops and powers off: the failure banner reaches the
// collector, as failed lines of the stage, before the machine goes.
func TestSyslogBannerBeforePoweroff(t *testing.T) {
	col := StartRsyslog(t, "udp")
	d := PrepareDisk(t, WithTunnel...)
	d.Remove("lighthouse/jwt.hex")
	args := []string{"homestaker.next=initramfs:/next", "homestaker.onfail=poweroff", "homestaker.wg=off",
		fmt.Sprintf("homestaker.log=syslog+udp://10.0.2.2:%d", col.Port)}
	vm := Boot(t, stage2Initramfs(t), args, Drive(d.Path))
	expectStop(t, vm, "secrets", "lighthouse")
	expectPoweroff(t, vm)
	r := col.Wait(t, "HOMESTAKER BOOT STOPPED in stage secrets")
	if r.SD != `[homestaker@32473 stage="secrets" result="failed"]` || r.App != "homestaker-init" {
		t.Errorf("banner record: %+v", r)
	}
	col.Wait(t, "now:      powering off (homestaker.onfail=poweroff)")
	for _, s := range d.Secrets() {
		if strings.Contains(col.Raw(), s) {
			t.Errorf("the collector got a secret value (%d characters)", len(s))
		}
	}
}
