package fetch

import (
	"errors"
	"math"
	"reflect"
	"testing"
	"time"
)

func TestProgressString(t *testing.T) {
	t.Parallel()
	const url = "http://10.0.0.1:8080/boot/current/initrd.zst"
	for _, tc := range []struct {
		p    Progress
		want string
	}{
		{Progress{URL: url, Done: 412 << 20, Total: 1288490189, Rate: 38.5 * (1 << 20), ETA: 21 * time.Second},
			"initrd.zst  412.0 MiB / 1.2 GiB  38.5 MiB/s  ETA 21s"},
		{Progress{URL: url, Done: 0, Total: 4 << 30},
			"initrd.zst  0 B / 4.0 GiB"},
		{Progress{URL: url, Done: 1023, Total: -1, Rate: 512},
			"initrd.zst  1023 B  512 B/s"},
		{Progress{URL: url, Done: 1024*1024 - 1, Total: 10 << 20, Rate: 1500, ETA: 125 * time.Second},
			"initrd.zst  1.0 MiB / 10.0 MiB  1.5 KiB/s  ETA 2m05s"},
		{Progress{URL: url, Done: 1 << 30, Total: 4 << 30, Rate: 100 << 10, ETA: 3*time.Hour + 2*time.Minute + 40*time.Second},
			"initrd.zst  1.0 GiB / 4.0 GiB  100.0 KiB/s  ETA 3h02m"},
		{Progress{URL: url, Done: 10 << 20, Total: 10 << 20, Rate: 20 << 20, Finished: true},
			"initrd.zst  10.0 MiB / 10.0 MiB  20.0 MiB/s  done"},
		{Progress{URL: url, Done: 3 << 30, Total: 4 << 30, Rate: 1 << 20, ETA: time.Second, Resumes: 2},
			"initrd.zst  3.0 GiB / 4.0 GiB  1.0 MiB/s  ETA 1s  (resumed 2 times)"},
		{Progress{URL: url, Done: 5 << 20, Total: 10 << 20, Resumes: 1, Retrying: errors.New("connection lost after 5.0 MiB: unexpected EOF")},
			"initrd.zst  5.0 MiB / 10.0 MiB  retrying: connection lost after 5.0 MiB: unexpected EOF  (resumed once)"},
		{Progress{URL: "https://boot.lan/", Done: 2 << 40, Total: -1, Finished: true},
			"boot.lan  2.0 TiB  done"},
		{Progress{URL: url, Done: math.MaxInt64, Total: -1},
			"initrd.zst  8.0 EiB"},
	} {
		if got := tc.p.String(); got != tc.want {
			t.Errorf("%+v:\n got %q\nwant %q", tc.p, got, tc.want)
		}
	}
}

func TestMeter(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	var reports []Progress
	m := newMeter("http://h/initrd.zst", func(p Progress) { reports = append(reports, p) }, t0)
	const total = 1 << 30
	done := int64(0)
	now := t0
	// 10 MiB/s for 10 s, one read every 50 ms.
	for range 200 {
		now = now.Add(50 * time.Millisecond)
		done += 512 << 10
		m.update(now, done, total, 0)
	}
	if n := len(reports); n < 19 || n > 21 {
		t.Errorf("%d reports in 10 s, want one every 500 ms", n)
	}
	p := reports[len(reports)-1]
	if math.Abs(p.Rate-10<<20) > 0.05*(10<<20) {
		t.Errorf("rate %.0f, want 10 MiB/s", p.Rate)
	}
	if want := time.Duration(float64(total-p.Done) / p.Rate * float64(time.Second)); p.ETA != want || p.ETA < 90*time.Second {
		t.Errorf("ETA %v, want %v", p.ETA, want)
	}
	// Then 40 MiB/s: after the window, the average has forgotten the past.
	for range 120 {
		now = now.Add(50 * time.Millisecond)
		done += 2 << 20
		m.update(now, done, total, 0)
	}
	if p := reports[len(reports)-1]; math.Abs(p.Rate-40<<20) > 0.05*(40<<20) {
		t.Errorf("rate %.0f, want 40 MiB/s", p.Rate)
	}
	// A retry is reported at once, and a restart from 0 does not make the
	// rate negative.
	n := len(reports)
	m.retrying(now.Add(time.Millisecond), errors.New("gone"))
	if len(reports) != n+1 || reports[n].Retrying == nil || reports[n].Rate != 0 {
		t.Errorf("retry report %+v", reports[n:])
	}
	now = now.Add(time.Second)
	m.update(now, 1<<20, total, 0)
	now = now.Add(time.Second)
	m.update(now, 3<<20, total, 0)
	if p := reports[len(reports)-1]; p.Rate < 0 || p.Retrying != nil {
		t.Errorf("after a restart: %+v", p)
	}
	m.finish(t0.Add(20*time.Second), 200<<20, 200<<20, 1)
	if p := reports[len(reports)-1]; !p.Finished || p.Rate != 10<<20 || p.Resumes != 1 || p.ETA != 0 {
		t.Errorf("final report %+v, want the average 10 MiB/s", p)
	}
}

// A meter with nothing to report to keeps the same count and cadence as
// one that reports: File passes nil when nobody listens.
func TestMeterNilReport(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	var reports []Progress
	heard := newMeter("http://h/x", func(p Progress) { reports = append(reports, p) }, t0)
	silent := newMeter("http://h/x", nil, t0)
	gone := errors.New("gone")
	steps := []func(m *meter){
		func(m *meter) { m.update(t0.Add(100*time.Millisecond), 1<<20, 4<<20, 0) },
		func(m *meter) { m.update(t0.Add(300*time.Millisecond), 2<<20, 4<<20, 0) }, // within reportEvery: no report
		func(m *meter) { m.retrying(t0.Add(400*time.Millisecond), gone) },
		func(m *meter) { m.update(t0.Add(time.Second), 3<<20, 4<<20, 1) },
		func(m *meter) { m.finish(t0.Add(2*time.Second), 4<<20, 4<<20, 1) },
	}
	for i, step := range steps {
		step(heard)
		step(silent)
		if !reflect.DeepEqual(silent.p, heard.p) || silent.lastReport != heard.lastReport || len(silent.samples) != len(heard.samples) {
			t.Errorf("step %d: without a report %+v (last %v), with one %+v (last %v)", i, silent.p, silent.lastReport, heard.p, heard.lastReport)
		}
	}
	if len(reports) != 4 {
		t.Errorf("%d reports, want 4 (the update within 500 ms of the first is not one)", len(reports))
	}
	want := Progress{URL: "http://h/x", Done: 4 << 20, Total: 4 << 20, Resumes: 1, Rate: 2 << 20, Finished: true}
	if silent.p != want {
		t.Errorf("the silent meter's last progress %+v, want %+v", silent.p, want)
	}
	if !silent.lastReport.Equal(t0.Add(2 * time.Second)) {
		t.Errorf("the silent meter last reported at %v, want the finish", silent.lastReport)
	}
}
