package kexectree

import (
	"errors"
	"fmt"
	"path"
	"strings"
)

// varsFile is the one script netboot.ipxe may chain: the HomestakerOS
// build puts the kernel parameters there.
const varsFile = "variables.ipxe"

// ipxeCommands is what the error for an unknown command offers instead.
const ipxeCommands = "expected set, chain variables.ipxe, kernel, initrd, boot, imgfree or echo"

// ParseIPXE parses a kexec tree's netboot.ipxe, resolving the variables set
// in its variables.ipxe (vars is nil when that file is absent). name is
// used in errors; the variables file's errors name its sibling
// variables.ipxe.
func ParseIPXE(name string, script []byte, vars []byte) (Tree, error) {
	p := &ipxeParser{
		varsName: path.Join(path.Dir(name), varsFile),
		vars:     vars,
		set:      map[string]string{},
	}
	if err := p.run(name, script, false); err != nil {
		return Tree{}, err
	}
	if p.kernel == "" {
		return Tree{}, &ParseError{File: name, Msg: "no kernel line; expected kernel bzImage ${kernel-params} ${cmdline}"}
	}
	return Tree{Kernel: p.kernel, Initrd: p.initrd, Cmdline: p.cmdline, From: "netboot.ipxe"}, nil
}

type ipxeParser struct {
	varsName string
	vars     []byte
	set      map[string]string

	kernel, initrd, cmdline string
	kernelAt, initrdAt      string // "file:line" of the lines that named them
	booted                  bool   // a boot line ended the script
}

func (p *ipxeParser) run(file string, src []byte, chained bool) error {
	lines := strings.Split(string(src), "\n")
	if !strings.HasPrefix(lines[0], "#!ipxe") {
		return &ParseError{File: file, Line: 1, Text: quoteLine(lines[0]), Msg: "expected #!ipxe as the first line"}
	}
	for n, raw := range lines[1:] {
		l := logicalLine{line: n + 2, text: strings.TrimSuffix(raw, "\r")}
		if err := p.line(file, l, chained); err != nil {
			if pe, ok := err.(*ParseError); ok {
				// From the chained variables.ipxe: it names its own line.
				return pe
			}
			return &ParseError{File: file, Line: l.line, Text: quoteLine(l.text), Msg: err.Error()}
		}
		if p.booted {
			// Lines after boot run only if the boot failed.
			return nil
		}
	}
	return nil
}

func (p *ipxeParser) line(file string, l logicalLine, chained bool) error {
	text := strings.TrimSpace(l.text)
	if text == "" || text[0] == '#' || text[0] == ':' {
		// Comments, and labels (harmless without goto).
		return nil
	}
	if f := strings.Fields(text); f[0] == "echo" {
		// Not expanded: an unknown variable in a message must not stop a boot.
		return nil
	}
	expanded, err := p.expand(text)
	if err != nil {
		return err
	}
	// iPXE expands first, then splits at white space; a token starting
	// with '#' starts a comment.
	f := strings.Fields(expanded)
	for i, w := range f {
		if w[0] == '#' {
			f = f[:i]
			break
		}
		if w == "||" || w == "&&" {
			return fmt.Errorf("%s is not supported: the script must run straight through", w)
		}
	}
	if len(f) == 0 {
		return nil
	}
	at := fmt.Sprintf("%s:%d", file, l.line)
	switch cmd, args := f[0], f[1:]; cmd {
	case "set":
		if len(args) == 0 {
			return errors.New("set without a name; expected set NAME VALUE")
		}
		p.set[args[0]] = strings.Join(args[1:], " ")
	case "chain":
		return p.chain(args, chained)
	case "kernel":
		if p.kernel != "" {
			return fmt.Errorf("second kernel line; %s already named %s", p.kernelAt, p.kernel)
		}
		files, err := imageArgs(args)
		if err != nil {
			return err
		}
		if len(files) == 0 {
			return errors.New("kernel without a file; expected kernel FILE ARGS...")
		}
		k, err := ipxePath("kernel", files[0])
		if err != nil {
			return err
		}
		p.kernel, p.kernelAt = k, at
		p.cmdline = strings.Join(files[1:], " ")
	case "initrd", "module", "imgfetch":
		if p.initrd != "" {
			return fmt.Errorf("second initrd; %s already named %s and a kexec tree has one", p.initrdAt, p.initrd)
		}
		files, err := imageArgs(args)
		if err != nil {
			return err
		}
		if len(files) != 1 {
			return fmt.Errorf("expected %s FILE", cmd)
		}
		i, err := ipxePath("initrd", files[0])
		if err != nil {
			return err
		}
		p.initrd, p.initrdAt = i, at
	case "boot", "imgexec":
		if len(args) != 0 {
			return fmt.Errorf("expected %s without arguments (the kernel line names the kernel)", cmd)
		}
		if p.kernel == "" {
			return fmt.Errorf("%s before any kernel line", cmd)
		}
		p.booted = true
	case "imgfree":
		if len(args) != 0 {
			return errors.New("expected imgfree without arguments")
		}
		p.kernel, p.initrd, p.cmdline = "", "", ""
	default:
		return fmt.Errorf("unknown iPXE command %s; %s", cmd, ipxeCommands)
	}
	return nil
}

// chain runs variables.ipxe in place, as iPXE does for a chained script.
func (p *ipxeParser) chain(args []string, chained bool) error {
	var files []string
	for _, a := range args {
		switch a {
		case "--autofree", "-a":
		default:
			if strings.HasPrefix(a, "-") {
				return fmt.Errorf("unsupported chain option %s; expected chain --autofree %s", a, varsFile)
			}
			files = append(files, a)
		}
	}
	if len(files) != 1 || path.Clean(files[0]) != varsFile {
		return fmt.Errorf("expected chain --autofree %s; a kexec tree chains nothing else", varsFile)
	}
	if chained {
		return fmt.Errorf("%s chains itself", varsFile)
	}
	if p.vars == nil {
		return fmt.Errorf("chains %s, which is not in the kexec tree", varsFile)
	}
	return p.run(p.varsName, p.vars, true)
}

// imageArgs drops the options of iPXE's image commands (kernel, initrd)
// and returns the file and what follows it.
func imageArgs(args []string) ([]string, error) {
	for i := 0; i < len(args); i++ {
		a := args[i]
		if !strings.HasPrefix(a, "-") {
			return args[i:], nil
		}
		opt, _, hasVal := strings.Cut(a, "=")
		switch opt {
		case "--autofree", "-a":
			if hasVal {
				return nil, fmt.Errorf("%s takes no value", opt)
			}
		case "--name", "-n", "--timeout", "-t":
			if !hasVal {
				if i+1 == len(args) {
					return nil, fmt.Errorf("%s needs a value", opt)
				}
				i++
			}
		default:
			return nil, fmt.Errorf("unsupported option %s; expected --name NAME, --timeout N or --autofree", a)
		}
	}
	return nil, nil
}

// ipxePath resolves a file named in netboot.ipxe: relative to the script,
// so relative to the tree.
func ipxePath(what, f string) (string, error) {
	if strings.Contains(f, "://") {
		return "", fmt.Errorf("%s %s is a URL; a kexec tree names files in its own directory", what, f)
	}
	return inTree(what, f)
}

// expand replaces ${name} with the value set for name. iPXE expands an
// unknown setting to nothing; we do that only for ${cmdline}, which the
// HomestakerOS script leaves for the operator, and refuse other unknown
// names so that a typo does not boot a kernel without its init=.
func (p *ipxeParser) expand(s string) (string, error) {
	var b strings.Builder
	for {
		i := strings.Index(s, "${")
		if i < 0 {
			b.WriteString(s)
			return b.String(), nil
		}
		b.WriteString(s[:i])
		j := strings.IndexByte(s[i:], '}')
		if j < 0 {
			return "", errors.New("${ is never closed with }")
		}
		name := s[i+2 : i+j]
		switch {
		case strings.Contains(name, "${"):
			return "", fmt.Errorf("nested ${...} in ${%s} is not supported", name)
		case strings.Contains(name, ":"):
			return "", fmt.Errorf("${%s}: ${name:type} forms are not supported; expected ${name}", name)
		}
		v, ok := p.set[name]
		if !ok && name != "cmdline" {
			return "", fmt.Errorf("unknown variable ${%s}; set it in %s", name, varsFile)
		}
		b.WriteString(v)
		s = s[i+j+1:]
	}
}
