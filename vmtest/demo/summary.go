package main

import (
	"fmt"
	"strings"
	"sync"
)

// transcript keeps the console's lines as they pass to the terminal.
type transcript struct {
	mu      sync.Mutex
	lines   []string
	partial string
}

func (t *transcript) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	s := t.partial + string(p)
	for {
		i := strings.IndexByte(s, '\n')
		if i < 0 {
			break
		}
		t.lines = append(t.lines, strings.TrimRight(s[:i], "\r"))
		s = s[i+1:]
	}
	t.partial = s
	return len(p), nil
}

func (t *transcript) Lines() []string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return append(append([]string(nil), t.lines...), t.partial)
}

// statusTags start the init's stage lines (init/console).
var statusTags = []string{"[  OK  ]", "[ WARN ]", "[FAILED]", "[ SKIP ]"}

const stage2Mark = "HOMESTAKER-STAGE2 "

// summarize tells what the console showed: each stage's line, the
// handover, and what the next system received. ok is false when the chain
// did not reach the next system or a stage failed.
func summarize(lines []string) (summary string, ok bool) {
	var stages, next []string
	var stopped, cmdline, handover string
	for _, l := range lines {
		for _, tag := range statusTags {
			if strings.HasPrefix(l, "[  OK  ] handover:") {
				handover = l
			} else if strings.HasPrefix(l, tag) {
				stages = append(stages, l)
			}
		}
		if i := strings.Index(l, "HOMESTAKER BOOT STOPPED in stage "); i >= 0 && stopped == "" {
			stopped = strings.TrimSpace(l[i:])
		}
		if rest, found := strings.CutPrefix(l, stage2Mark); found {
			if c, isCmdline := strings.CutPrefix(rest, "cmdline: "); isCmdline {
				cmdline = c
			} else if !strings.HasPrefix(rest, "up at ") && rest != "powering off" {
				next = append(next, rest)
			}
		}
	}

	var b strings.Builder
	fmt.Fprintf(&b, "\ndemo: what the boot showed\n")
	fmt.Fprintf(&b, "  the init's stages, as each ended:\n")
	for _, s := range stages {
		fmt.Fprintf(&b, "    %s\n", s)
	}
	if len(stages) == 0 {
		fmt.Fprintf(&b, "    (no stage line on the console)\n")
	}
	ok = stopped == "" && handover != "" && cmdline != ""
	for _, s := range stages {
		if strings.HasPrefix(s, "[FAILED]") {
			ok = false
		}
	}
	if stopped != "" {
		fmt.Fprintf(&b, "  %s: the banner above says why and what to do\n", stopped)
	}
	if handover != "" {
		fmt.Fprintf(&b, "  the handover:\n    %s\n", handover)
	}
	if cmdline == "" {
		fmt.Fprintf(&b, "  the next system never started\n")
	} else {
		fmt.Fprintf(&b, "  the next system (vmtest/stage2, standing in for HomestakerOS) got:\n")
		fmt.Fprintf(&b, "    its command line: %s\n", cmdline)
		for _, w := range strings.Fields(cmdline) {
			if p, found := strings.CutPrefix(w, "homestaker.report="); found {
				fmt.Fprintf(&b, "    where its boot report is on the volume: %s (homestaker.report=)\n", p)
			}
		}
		if len(next) > 0 {
			fmt.Fprintf(&b, "  and found:\n")
		}
		for _, n := range next {
			fmt.Fprintf(&b, "    %s\n", n)
		}
	}
	if ok {
		fmt.Fprintf(&b, "demo: the chain booted from the init to the next system\n")
	} else {
		fmt.Fprintf(&b, "demo: the chain did not reach the next system\n")
	}
	return b.String(), ok
}
