package kexectree

import (
	"errors"
	"fmt"
	"strings"
)

// logicalLine is a shell line with its backslash continuations joined and
// its comment dropped; newlines inside quotes are kept.
type logicalLine struct {
	line int // 1-based number of its first physical line
	text string
}

// logicalLines splits a shell script into logical lines. It tracks quotes
// so that a '#' or a trailing backslash inside them means what it means to
// the shell. It does not follow quotes nested inside $(...), which is fine
// for the boilerplate it has to skip: their quotes pair up in practice.
func logicalLines(src string) ([]logicalLine, int, error) {
	const (
		plain = iota
		single
		double
	)
	var (
		lines []logicalLine
		b     strings.Builder
		state = plain
		line  = 1 // current physical line
		start = 1 // first physical line of the current logical line
		brk   = true
	)
	for i := 0; i < len(src); i++ {
		c := src[i]
		switch state {
		case single:
			b.WriteByte(c)
			if c == '\'' {
				state = plain
			} else if c == '\n' {
				line++
			}
			continue
		case double:
			switch {
			case c == '\\' && i+1 < len(src) && src[i+1] == '\n':
				i++
				line++
			case c == '\\' && i+1 < len(src):
				b.WriteByte(c)
				b.WriteByte(src[i+1])
				i++
			default:
				b.WriteByte(c)
				if c == '"' {
					state = plain
				} else if c == '\n' {
					line++
				}
			}
			continue
		}
		switch {
		case c == '\n':
			lines = append(lines, logicalLine{start, b.String()})
			b.Reset()
			line++
			start = line
			brk = true
		case c == '\\' && i+1 < len(src) && src[i+1] == '\n':
			i++
			line++
		case c == '\\' && i+1 < len(src):
			b.WriteByte(c)
			b.WriteByte(src[i+1])
			i++
			brk = false
		case c == '#' && brk:
			for i+1 < len(src) && src[i+1] != '\n' {
				i++
			}
		default:
			b.WriteByte(c)
			brk = strings.IndexByte(" \t\r;&|()<>", c) >= 0
			switch c {
			case '\'':
				state = single
			case '"':
				state = double
			}
		}
	}
	if state != plain {
		return nil, start, errors.New("quote is never closed")
	}
	if b.Len() > 0 {
		lines = append(lines, logicalLine{start, b.String()})
	}
	return lines, 0, nil
}

// kexecOptions is what the error for an unknown option offers instead.
const kexecOptions = `expected --load KERNEL, --initrd=FILE, --command-line "..."`

// ParseKexecBoot parses the kexec-boot script of a kexec tree: the
// HomestakerOS boilerplate around exactly one "kexec --load" command.
// name is used in errors (e.g. "/boot/current/kexec-boot").
func ParseKexecBoot(name string, script []byte) (Tree, error) {
	src := strings.ReplaceAll(string(script), "\r\n", "\n")
	lines, at, err := logicalLines(src)
	if err != nil {
		text := ""
		if at > 0 {
			text = quoteLine(strings.SplitN(src, "\n", at+1)[at-1])
		}
		return Tree{}, &ParseError{File: name, Line: at, Text: text, Msg: err.Error()}
	}
	fail := func(l logicalLine, format string, args ...any) error {
		return &ParseError{File: name, Line: l.line, Text: quoteLine(l.text), Msg: fmt.Sprintf(format, args...)}
	}

	var (
		tree   Tree
		loaded logicalLine // the load command, once seen
	)
	for i := 0; i < len(lines); i++ {
		l := lines[i]
		text := strings.TrimSpace(l.text)
		switch {
		case text == "":
			continue
		case isKexecCheck(text):
			end := skipIfBlock(lines, i)
			if end < 0 {
				return Tree{}, fail(l, "the kexec -v check is never closed with fi")
			}
			i = end
			continue
		case strings.HasPrefix(text, "SCRIPT_DIR="):
			// Its value is how bash finds the tree; we already know it.
			continue
		}
		words, err := splitWords(text)
		if err != nil {
			return Tree{}, fail(l, "%v", err)
		}
		switch {
		case len(words) == 0:
			continue
		case words[0] == "set" && len(words) > 1 && (strings.HasPrefix(words[1], "-") || strings.HasPrefix(words[1], "+")):
			continue
		case isExec(words):
			if loaded.line == 0 {
				return Tree{}, fail(l, "%s comes before the kexec --load command; expected the load first", strings.Join(words, " "))
			}
			continue
		case words[0] != "kexec":
			return Tree{}, fail(l, "not a line a kexec-boot script has; expected the kexec -v check, SCRIPT_DIR=..., one kexec --load command, systemctl kexec or kexec -e")
		case loaded.line != 0:
			return Tree{}, fail(l, "second kexec command; the first is on line %d and a kexec tree boots one kernel", loaded.line)
		}
		t, err := parseKexecLoad(words[1:])
		if err != nil {
			return Tree{}, fail(l, "%v", err)
		}
		tree, loaded = t, l
	}
	if loaded.line == 0 {
		return Tree{}, &ParseError{File: name, Msg: "no kexec command; expected kexec --load ${SCRIPT_DIR}/bzImage --initrd=${SCRIPT_DIR}/initrd.zst --command-line \"...\""}
	}
	tree.From = "kexec-boot"
	return tree, nil
}

// isKexecCheck recognises the guard "if ! kexec -v >/dev/null 2>&1; then".
func isKexecCheck(text string) bool {
	f := strings.Fields(text)
	if len(f) < 4 || f[0] != "if" || f[1] != "!" || f[2] != "kexec" {
		return false
	}
	v := strings.TrimRight(f[3], ";")
	return v == "-v" || v == "--version"
}

// skipIfBlock returns the index of the line that closes the if block
// opening at lines[i] (which may be i itself for a one-line block), or -1.
func skipIfBlock(lines []logicalLine, i int) int {
	depth := 0
	for j := i; j < len(lines); j++ {
		f := strings.Fields(lines[j].text)
		if len(f) == 0 {
			continue
		}
		if f[0] == "if" {
			depth++
		}
		if last := strings.TrimRight(f[len(f)-1], ";"); last == "fi" {
			depth--
		}
		if depth <= 0 {
			return j
		}
	}
	return -1
}

// isExec recognises the final step, which we take ourselves.
func isExec(w []string) bool {
	return len(w) == 2 && (w[0] == "systemctl" && w[1] == "kexec" ||
		w[0] == "kexec" && (w[1] == "-e" || w[1] == "--exec"))
}

// parseKexecLoad reads the arguments of "kexec --load ..." the way
// kexec-tools' getopt_long does, for the options a kexec tree may use.
func parseKexecLoad(args []string) (Tree, error) {
	var (
		load              bool
		files             []string
		initrd, cmdline   string
		haveInitrd, haveC bool
	)
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			files = append(files, args[i+1:]...)
			break
		}
		if !strings.HasPrefix(a, "-") || a == "-" {
			files = append(files, a)
			continue
		}
		switch a {
		case "--load":
			load = true
			continue
		case "--kexec-file-syscall", "--kexec-syscall", "--kexec-syscall-auto":
			// We pick the syscall ourselves (kexec_file_load).
			continue
		case "--reuse-cmdline":
			return Tree{}, errors.New("--reuse-cmdline has nothing to reuse: the running kernel is the bootstrap; give --command-line")
		}
		if shortFlags(a) {
			load = load || strings.Contains(a, "l")
			continue
		}
		opt, val, hasVal := strings.Cut(a, "=")
		switch opt {
		case "--initrd", "--ramdisk", "--command-line", "--append":
		default:
			return Tree{}, fmt.Errorf("unknown kexec option %s; %s", showWord(opt), kexecOptions)
		}
		if !hasVal {
			if i+1 == len(args) {
				return Tree{}, fmt.Errorf("%s needs a value", opt)
			}
			i++
			val = args[i]
		}
		switch opt {
		case "--initrd", "--ramdisk":
			if haveInitrd {
				return Tree{}, fmt.Errorf("%s given twice; a kexec tree has one initrd", opt)
			}
			initrd, haveInitrd = val, true
		default:
			if haveC {
				return Tree{}, fmt.Errorf("%s given twice; expected one --command-line", opt)
			}
			cmdline, haveC = val, true
		}
	}
	if !load {
		return Tree{}, errors.New("kexec command without --load (or -l); expected kexec --load KERNEL ...")
	}
	switch len(files) {
	case 0:
		return Tree{}, errors.New("no kernel; expected kexec --load ${SCRIPT_DIR}/bzImage")
	case 1:
	default:
		return Tree{}, fmt.Errorf("more than one kernel (%s); expected kexec --load KERNEL", showWord(strings.Join(files, " ")))
	}
	var t Tree
	var err error
	if t.Kernel, err = scriptPath("kernel", files[0]); err != nil {
		return Tree{}, err
	}
	if haveInitrd {
		if t.Initrd, err = scriptPath("initrd", initrd); err != nil {
			return Tree{}, err
		}
	}
	if strings.Contains(cmdline, scriptDirMark) {
		return Tree{}, errors.New("$SCRIPT_DIR in the command line; the next kernel cannot see the tree's directory")
	}
	t.Cmdline = cmdline
	return t, nil
}

// shortFlags recognises -l, and the syscall choices -s, -c and -a (which
// we ignore: we pick kexec_file_load ourselves), alone or combined (-ls).
func shortFlags(a string) bool {
	if len(a) < 2 || a[0] != '-' || a[1] == '-' {
		return false
	}
	for _, c := range a[1:] {
		if !strings.ContainsRune("lsca", c) {
			return false
		}
	}
	return true
}

// scriptPath resolves a kernel or initrd word from kexec-boot: either
// ${SCRIPT_DIR}/NAME or a plain NAME relative to the tree.
func scriptPath(what, w string) (string, error) {
	rest, viaDir := strings.CutPrefix(w, scriptDirMark)
	if strings.Contains(rest, scriptDirMark) {
		return "", fmt.Errorf("%s %s: $SCRIPT_DIR may only start a path", what, showWord(w))
	}
	if !viaDir {
		return inTree(what, w)
	}
	if rest == "" {
		return "", fmt.Errorf("%s ${SCRIPT_DIR} names the tree's directory, not a file", what)
	}
	if rest[0] != '/' {
		return "", fmt.Errorf("%s %s: expected ${SCRIPT_DIR}/NAME", what, showWord(w))
	}
	p, err := inTree(what, strings.TrimLeft(rest, "/"))
	if err != nil {
		// Say it as written, not as trimmed.
		return "", fmt.Errorf("%s %s: %v", what, showWord(w), err)
	}
	return p, nil
}
