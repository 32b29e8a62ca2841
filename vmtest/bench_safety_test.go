package vmtest

import (
	"fmt"
	"testing"
	"time"
)

// BenchmarkSafetyNet measures the two ways the boot recovers by itself or
// lets the operator in:
//
//   - from a fault (a missing JWT, the tunnel up) to the rescue SSH server
//     accepting a connection through the tunnel, against the tunnel's own
//     readiness at the same moment (an ICMP echo answered, started
//     together with the dial);
//   - from the boot-count fallback decision to the stage 2, against the
//     same stretch of a boot without a fallback (the volume mounted to the
//     stage 2) on the same disk.
func BenchmarkSafetyNet(b *testing.B) {
	for i := 0; i < b.N; i++ {
		accept, ping := rescueTiming(b)
		fmt.Printf("\nrescue: fault to SSH accepting %s; fault to the tunnel answering a ping %s; ratio %.2f\n",
			accept.Round(time.Millisecond), ping.Round(time.Millisecond), accept.Seconds()/ping.Seconds())
		b.ReportMetric(accept.Seconds(), "fault-to-ssh-s")
		b.ReportMetric(accept.Seconds()/ping.Seconds(), "ssh/ping")

		normal, fallback := fallbackTiming(b)
		fmt.Printf("fallback: decision to stage 2 %s; the same stretch without a fallback %s; ratio %.2f\n",
			fallback.Round(time.Millisecond), normal.Round(time.Millisecond), fallback.Seconds()/normal.Seconds())
		b.ReportMetric(fallback.Seconds(), "fallback-to-stage2-s")
		b.ReportMetric(fallback.Seconds()/normal.Seconds(), "fallback/normal")
	}
}

func rescueTiming(b *testing.B) (accept, ping time.Duration) {
	peer := StartPeer(b, "10.99.0.1")
	d := tunnelDisk(b, peer)
	key := rescueKey(b, d)
	hostKey := volumeHostKey(b, d)
	d.Remove("lighthouse/jwt.hex")
	vm := Boot(b, stage2Initramfs(b), []string{"homestaker.next=initramfs:/next", "homestaker.wg=required"}, Drive(d.Path))
	vm.Expect("[FAILED] secrets:")
	fault := time.Now()
	pinged := make(chan time.Duration, 1)
	go func() {
		if err := peer.Ping("10.99.0.2", 30*time.Second); err != nil {
			b.Errorf("ping through the tunnel: %v", err)
		}
		pinged <- time.Since(fault)
	}()
	client, took := rescueLogin(b, peer, hostKey, key, fault)
	client.Close()
	ping = <-pinged
	vm.Kill()
	vm.Wait()
	return took, ping
}

func fallbackTiming(b *testing.B) (normal, fallback time.Duration) {
	d := PrepareDisk(b, WithTunnel...)
	d.InstallNext(treeDir(b))
	d.InstallNext(treeDir(b))
	args := append([]string{"homestaker.tries=1"}, volumeFaultArgs...)
	stretch := func(from string) time.Duration {
		vm := Boot(b, bench.initramfs, args, Drive(d.Path))
		vm.Expect("HOMESTAKER-STAGE2 powering off")
		if err := vm.Wait(); err != nil {
			b.Fatalf("VM: %v", err)
		}
		lines := vm.Lines()
		start, ok1 := milestone(lines, from)
		end, ok2 := milestone(lines, "HOMESTAKER-STAGE2 up")
		if !ok1 || !ok2 {
			b.Fatalf("no %q or no stage 2 in the log", from)
		}
		return end - start
	}
	normal = stretch("[  OK  ] storage")
	fallback = stretch("volume:/boot/current refused: booted 1 time without a success mark")
	return normal, fallback
}
