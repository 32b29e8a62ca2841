package vmtest

import (
	"fmt"
	"testing"
	"time"
)

// BenchmarkSyslog times two things, with ratios against a baseline of the
// same run (no timing is asserted):
//
//   - from the banner (the init's first console line) to the first
//     message at a collector (rsyslog over UDP on the LAN), against the
//     banner to the network stage's line (when a route first exists):
//     the shipper should send right after the route appears;
//   - the time from the banner to the network line with ip=dhcp on QEMU
//     user networking with IPv6 on (router advertisements) against IPv6
//     off: SLAAC next to DHCPv4 must not add a wait where there is no
//     IPv6.
func BenchmarkSyslog(b *testing.B) {
	d := PrepareDisk(b, WithTunnel...)
	args := []string{"homestaker.next=initramfs:/next", "homestaker.onfail=poweroff", "homestaker.wg=off"}
	img := stage2Initramfs(b)
	for i := 0; i < b.N; i++ {
		col := StartRsyslog(b, "udp")
		vm := Boot(b, img, append(args, fmt.Sprintf("homestaker.log=syslog+udp://10.0.2.2:%d", col.Port)), Drive(d.Path))
		vm.Expect("HOMESTAKER-STAGE2 powering off")
		if err := vm.Wait(); err != nil {
			b.Fatalf("VM: %v", err)
		}
		col.Wait(b, "[  OK  ] handover:")
		lines := vm.Lines()
		banner, ok1 := milestone(lines, "init started at")
		network, ok2 := milestone(lines, "[  OK  ] network:")
		if !ok1 || !ok2 {
			b.Fatal("no banner or network line on the console")
		}
		var first time.Time
		for _, r := range col.Records() {
			if first.IsZero() || r.Received.Before(first) {
				first = r.Received
			}
		}
		firstAt := first.Sub(vm.start)
		toLog, toNet := firstAt-banner, network-banner
		fmt.Printf("banner at %.3fs; network line %.3fs later; first syslog message at the collector %.3fs after the banner (%.3fs after the network line); ratio %.2f\n",
			banner.Seconds(), toNet.Seconds(), toLog.Seconds(), (firstAt - network).Seconds(), toLog.Seconds()/toNet.Seconds())
		b.ReportMetric(toLog.Seconds(), "banner-to-syslog-s")
		b.ReportMetric(toNet.Seconds(), "banner-to-network-s")
		b.ReportMetric(toLog.Seconds()/toNet.Seconds(), "syslog/network-ratio")

		// IPv6 autoconf where there is none.
		toNetwork := func(nic string) (time.Duration, time.Duration) {
			vm := BootNIC(b, nic, img, append(args, "ip=dhcp"), Drive(d.Path))
			vm.Expect("HOMESTAKER-STAGE2 powering off")
			if err := vm.Wait(); err != nil {
				b.Fatalf("VM: %v", err)
			}
			lines := vm.Lines()
			banner, ok1 := milestone(lines, "init started at")
			network, ok2 := milestone(lines, "[  OK  ] network:")
			if !ok1 || !ok2 {
				b.Fatal("no banner or network line on the console")
			}
			d, _ := stageDuration(lines, "network")
			fmt.Printf("  %s: banner to network line %.3fs (network stage %.3fs)\n", nic, (network - banner).Seconds(), d.Seconds())
			return network - banner, d
		}
		// The early stage (module loading, seconds under TCG) is in the
		// banner-to-line time; the network stage's own duration is the
		// measure of a wait.
		off, offStage := toNetwork(UserNet + ",ipv6=off")
		on, onStage := toNetwork(UserNet)
		fmt.Printf("ip=dhcp, banner to network line: IPv6 on %.3fs, off %.3fs, ratio on/off %.2f; network stage: on %.3fs, off %.3fs, ratio on/off %.2f\n",
			on.Seconds(), off.Seconds(), on.Seconds()/off.Seconds(), onStage.Seconds(), offStage.Seconds(), onStage.Seconds()/offStage.Seconds())
		b.ReportMetric(off.Seconds(), "ipv6-off-network-line-s")
		b.ReportMetric(on.Seconds(), "ipv6-on-network-line-s")
		b.ReportMetric(offStage.Seconds(), "ipv6-off-network-stage-s")
		b.ReportMetric(onStage.Seconds(), "ipv6-on-network-stage-s")
		b.ReportMetric(onStage.Seconds()/offStage.Seconds(), "ipv6-on/off-stage-ratio")
	}
}
