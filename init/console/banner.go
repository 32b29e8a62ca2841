package console

import (
	"strings"
)

// Banner is what the operator reads when the boot stops: which stage, what
// it expected, what it found and what to do about it.
type Banner struct {
	Stage    string
	Expected string
	Found    string
	Action   string
	Report   string // where the boot report is
	Next     string // what happens now (shell, reboot in 30 s, power off)
}

// Banner prints b framed so that it stands out in a scrolling serial log.
func (c *Console) Banner(b Banner) {
	c.write(about{b.Stage, Failed, true}, b.String())
}

// String is the framed banner, as the console and a rescue login show it.
func (b Banner) String() string {
	rows := [][2]string{
		{"stage", b.Stage},
		{"expected", b.Expected},
		{"found", b.Found},
		{"to do", b.Action},
		{"report", b.Report},
		{"now", b.Next},
	}
	var sb strings.Builder
	rule := strings.Repeat("=", 72)
	sb.WriteString("\n" + rule + "\n")
	sb.WriteString("  HOMESTAKER BOOT STOPPED in stage " + Escape(b.Stage) + "\n")
	sb.WriteString(rule + "\n")
	for _, r := range rows {
		if r[1] == "" {
			continue
		}
		for i, line := range strings.Split(r[1], "\n") {
			label := r[0] + ":"
			if i > 0 {
				label = ""
			}
			sb.WriteString("  " + pad(label, 10) + Escape(line) + "\n")
		}
	}
	sb.WriteString(rule)
	return sb.String()
}

func pad(s string, n int) string {
	if len(s) >= n {
		return s + " "
	}
	return s + strings.Repeat(" ", n-len(s))
}
