package fetch

import (
	"fmt"
	"net/url"
	"path"
	"strings"
	"time"
)

// Progress is the state of one download, for the console.
type Progress struct {
	URL      string        // without userinfo
	Done     int64         // bytes in the file
	Total    int64         // -1 while unknown
	Rate     float64       // bytes/s over the last few seconds; the average once Finished
	ETA      time.Duration // 0 when unknown
	Resumes  int           // attempts that continued with a Range request
	Finished bool
	Retrying error // why the last attempt failed, while File waits to try again
}

// String is the console line, e.g.
// "initrd.zst  412.0 MiB / 1.2 GiB  38.5 MiB/s  ETA 21s".
func (p Progress) String() string {
	var b strings.Builder
	b.WriteString(fileName(p.URL))
	b.WriteString("  ")
	b.WriteString(formatSize(float64(p.Done)))
	if p.Total >= 0 {
		b.WriteString(" / ")
		b.WriteString(formatSize(float64(p.Total)))
	}
	switch {
	case p.Retrying != nil:
		fmt.Fprintf(&b, "  retrying: %v", p.Retrying)
	case p.Finished:
		if p.Rate > 0 {
			fmt.Fprintf(&b, "  %s/s", formatSize(p.Rate))
		}
		b.WriteString("  done")
	case p.Rate > 0:
		fmt.Fprintf(&b, "  %s/s", formatSize(p.Rate))
		if p.Total >= 0 {
			fmt.Fprintf(&b, "  ETA %s", formatETA(p.ETA))
		}
	}
	if p.Resumes == 1 {
		b.WriteString("  (resumed once)")
	} else if p.Resumes > 1 {
		fmt.Fprintf(&b, "  (resumed %d times)", p.Resumes)
	}
	return b.String()
}

// fileName is the last element of the URL's path, which is what the
// operator recognises on a console line.
func fileName(rawURL string) string {
	u, err := url.Parse(rawURL)
	if err != nil {
		return rawURL
	}
	switch name := path.Base(u.Path); name {
	case "/", ".", "":
		return u.Host
	default:
		return name
	}
}

// formatSize writes bytes in binary units with one decimal: "412.0 MiB".
func formatSize(n float64) string {
	if n < 1024 {
		return fmt.Sprintf("%.0f B", n)
	}
	units := []string{"KiB", "MiB", "GiB", "TiB", "PiB", "EiB"}
	u := 0
	n /= 1024
	// 1023.96 would print as "1024.0 KiB": move up a unit first.
	for n >= 1023.95 && u < len(units)-1 {
		n /= 1024
		u++
	}
	return fmt.Sprintf("%.1f %s", n, units[u])
}

// formatETA is short and stable on a console line: 21s, 3m05s, 1h02m.
func formatETA(d time.Duration) string {
	s := int64((d + time.Second/2) / time.Second)
	switch {
	case s < 60:
		return fmt.Sprintf("%ds", s)
	case s < 3600:
		return fmt.Sprintf("%dm%02ds", s/60, s%60)
	default:
		return fmt.Sprintf("%dh%02dm", s/3600, (s%3600)/60)
	}
}

// Reporting cadence and the moving average's window.
const (
	reportEvery = 500 * time.Millisecond
	sampleEvery = 250 * time.Millisecond
	rateWindow  = 5 * time.Second
)

// meter turns byte counts into Progress reports at most every reportEvery.
// Times are passed in so that it is tested without sleeping.
type meter struct {
	report     func(Progress) // nil: nothing to report to
	p          Progress
	start      time.Time
	lastReport time.Time
	samples    []sample // oldest first, spanning at most rateWindow
}

type sample struct {
	at   time.Time
	done int64
}

func newMeter(shownURL string, report func(Progress), now time.Time) *meter {
	return &meter{report: report, p: Progress{URL: shownURL, Total: -1}, start: now}
}

// update records that done of total bytes are in the file at now.
func (m *meter) update(now time.Time, done, total int64, resumes int) {
	m.p.Done, m.p.Total, m.p.Resumes, m.p.Retrying = done, total, resumes, nil
	if n := len(m.samples); n > 0 && done < m.samples[n-1].done {
		m.samples = m.samples[:0] // started again from 0
	}
	if n := len(m.samples); n == 0 || now.Sub(m.samples[n-1].at) >= sampleEvery {
		m.samples = append(m.samples, sample{now, done})
	}
	// Keep one sample at or before the window's start, so that the
	// average spans the whole window.
	drop := 0
	for drop+1 < len(m.samples) && now.Sub(m.samples[drop+1].at) >= rateWindow {
		drop++
	}
	m.samples = append(m.samples[:0], m.samples[drop:]...)

	m.p.Rate, m.p.ETA = 0, 0
	if s := m.samples[0]; now.After(s.at) {
		m.p.Rate = float64(done-s.done) / now.Sub(s.at).Seconds()
	}
	if m.p.Rate > 0 && total >= done {
		m.p.ETA = time.Duration(float64(total-done) / m.p.Rate * float64(time.Second))
	}
	if m.lastReport.IsZero() || now.Sub(m.lastReport) >= reportEvery {
		m.send(now)
	}
}

// retrying reports a failed attempt at once: the console must not look
// frozen while File waits.
func (m *meter) retrying(now time.Time, err error) {
	m.p.Retrying, m.p.Rate, m.p.ETA = err, 0, 0
	m.samples = m.samples[:0]
	m.send(now)
}

// finish reports the end, with the average rate of the whole download.
func (m *meter) finish(now time.Time, done, total int64, resumes int) {
	m.p.Done, m.p.Total, m.p.Resumes, m.p.Retrying = done, total, resumes, nil
	m.p.Finished, m.p.ETA, m.p.Rate = true, 0, 0
	if el := now.Sub(m.start); el > 0 {
		m.p.Rate = float64(done) / el.Seconds()
	}
	m.send(now)
}

func (m *meter) send(now time.Time) {
	m.lastReport = now
	if m.report != nil {
		m.report(m.p)
	}
}
