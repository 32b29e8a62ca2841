package kexectree

import (
	"errors"
	"strings"
	"testing"
)

// homestakerNetboot and homestakerVars are netboot.ipxe and variables.ipxe
// as the HomestakerOS build writes them.
const (
	homestakerNetboot = "#!ipxe\n" +
		"# Use the cmdline variable to allow the user to specify custom kernel params\n" +
		"# when chainloading this script from other iPXE scripts like netboot.xyz\n" +
		"chain --autofree variables.ipxe\n" +
		"kernel bzImage ${kernel-params} ${cmdline}\n" +
		"initrd initrd.zst\n" +
		"boot\n"
	homestakerVars = "#!ipxe\nset kernel-params " + nixInit + " initrd=initrd.zst boot.shell_on_fail mitigations=off loglevel=4\n"
)

func TestParseIPXE(t *testing.T) {
	homestaker := Tree{
		Kernel:  "bzImage",
		Initrd:  "initrd.zst",
		Cmdline: nixInit + " initrd=initrd.zst boot.shell_on_fail mitigations=off loglevel=4",
		From:    "netboot.ipxe",
	}
	for _, tt := range []struct {
		name         string
		script, vars string
		varsAbsent   bool
		want         Tree
	}{
		{name: "homestakeros", script: homestakerNetboot, vars: homestakerVars, want: homestaker},
		{
			name:   "crlf",
			script: strings.ReplaceAll(homestakerNetboot, "\n", "\r\n"),
			vars:   strings.ReplaceAll(homestakerVars, "\n", "\r\n"),
			want:   homestaker,
		},
		{
			name:   "cmdline set, spaces collapsed",
			script: "#!ipxe\nset cmdline  console=ttyS0   quiet \nchain variables.ipxe\nkernel   bzImage  ${kernel-params}\t${cmdline}\ninitrd initrd.zst\nboot\n",
			vars:   homestakerVars,
			want:   Tree{Kernel: "bzImage", Initrd: "initrd.zst", Cmdline: homestaker.Cmdline + " console=ttyS0 quiet", From: "netboot.ipxe"},
		},
		{
			name:       "no variables.ipxe needed",
			script:     "#!ipxe\nset params loglevel=4\necho booting ${net0/ip}\nkernel --name k ./bzImage ${params}\ninitrd --name initrd.zst initrd.zst\nimgexec\n",
			varsAbsent: true,
			want:       Tree{Kernel: "bzImage", Initrd: "initrd.zst", Cmdline: "loglevel=4", From: "netboot.ipxe"},
		},
		{
			name:   "imgfree, labels, comments, lines after boot",
			script: "#!ipxe\n:start\nimgfree\nkernel old.bzImage\nimgfree\nkernel bzImage a=1 # comment\nboot\nshell\n",
			want:   Tree{Kernel: "bzImage", Cmdline: "a=1", From: "netboot.ipxe"},
		},
		{
			name:   "no boot line",
			script: "#!ipxe\nkernel bzImage\n",
			want:   Tree{Kernel: "bzImage", From: "netboot.ipxe"},
		},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var vars []byte
			if !tt.varsAbsent {
				vars = []byte(tt.vars)
			}
			got, err := ParseIPXE("/boot/current/netboot.ipxe", []byte(tt.script), vars)
			if err != nil {
				t.Fatalf("ParseIPXE: %v", err)
			}
			if got != tt.want {
				t.Errorf("ParseIPXE =\n %+v\nwant\n %+v", got, tt.want)
			}
		})
	}
}

func TestParseIPXEErrors(t *testing.T) {
	const (
		file     = "/boot/current/netboot.ipxe"
		varsName = "/boot/current/variables.ipxe"
	)
	for _, tt := range []struct {
		name         string
		script, vars string
		varsAbsent   bool
		file         string // ParseError.File
		line         int
		text         string
		msg          string
	}{
		{
			name: "no #!ipxe", script: "kernel bzImage\n", vars: homestakerVars,
			file: file, line: 1, text: "kernel bzImage", msg: "expected #!ipxe",
		},
		{
			name: "vars file without #!ipxe", script: homestakerNetboot, vars: "set kernel-params x\n",
			file: varsName, line: 1, text: "set kernel-params x", msg: "expected #!ipxe",
		},
		{
			name: "variables.ipxe absent", script: homestakerNetboot, varsAbsent: true,
			file: file, line: 4, text: "chain --autofree variables.ipxe", msg: "not in the kexec tree",
		},
		{
			name: "unknown variable", script: strings.Replace(homestakerNetboot, "${kernel-params}", "${kernel-parms}", 1), vars: homestakerVars,
			file: file, line: 5, text: "kernel bzImage ${kernel-parms} ${cmdline}", msg: "unknown variable ${kernel-parms}",
		},
		{
			name: "variable with a type", script: "#!ipxe\nkernel bzImage ${cmdline:string}\n",
			file: file, line: 2, text: "kernel bzImage ${cmdline:string}", msg: "not supported",
		},
		{
			name: "unclosed ${", script: "#!ipxe\nkernel bzImage ${cmdline\n",
			file: file, line: 2, text: "kernel bzImage ${cmdline", msg: "never closed",
		},
		{
			name: "unknown command in the vars file", script: homestakerNetboot, vars: "#!ipxe\nset kernel-params x\ndhcp\n",
			file: varsName, line: 3, text: "dhcp", msg: "unknown iPXE command dhcp",
		},
		{
			name: "chain something else", script: "#!ipxe\nchain http://example.com/boot.ipxe\n",
			file: file, line: 2, text: "chain http://example.com/boot.ipxe", msg: "chains nothing else",
		},
		{
			name: "chain --replace", script: "#!ipxe\nchain --replace variables.ipxe\n", vars: homestakerVars,
			file: file, line: 2, text: "chain --replace variables.ipxe", msg: "unsupported chain option --replace",
		},
		{
			name: "vars chains itself", script: homestakerNetboot, vars: "#!ipxe\nchain variables.ipxe\n",
			file: varsName, line: 2, text: "chain variables.ipxe", msg: "chains itself",
		},
		{
			name: "kernel URL", script: "#!ipxe\nkernel http://10.0.2.2/bzImage\n",
			file: file, line: 2, text: "kernel http://10.0.2.2/bzImage", msg: "is a URL",
		},
		{
			name: "kernel escaping", script: "#!ipxe\nkernel ../bzImage\n",
			file: file, line: 2, text: "kernel ../bzImage", msg: "leaves the kexec tree",
		},
		{
			name: "absolute initrd", script: "#!ipxe\nkernel bzImage\ninitrd /initrd.zst\n",
			file: file, line: 3, text: "initrd /initrd.zst", msg: "absolute path",
		},
		{
			name: "two kernels", script: "#!ipxe\nkernel bzImage\nkernel bzImage2\n",
			file: file, line: 3, text: "kernel bzImage2", msg: "second kernel line; " + file + ":2 already named bzImage",
		},
		{
			name: "two initrds", script: "#!ipxe\nkernel bzImage\ninitrd a\ninitrd b\n",
			file: file, line: 4, text: "initrd b", msg: "second initrd",
		},
		{
			name: "boot without kernel", script: "#!ipxe\nboot\n",
			file: file, line: 2, text: "boot", msg: "before any kernel",
		},
		{
			name: "no kernel", script: "#!ipxe\necho hello\n",
			file: file, line: 0, text: "", msg: "no kernel line",
		},
		{
			name: "operator", script: "#!ipxe\nkernel bzImage || goto failed\n",
			file: file, line: 2, text: "kernel bzImage || goto failed", msg: "|| is not supported",
		},
		{
			name: "kernel option", script: "#!ipxe\nkernel --timeout\n",
			file: file, line: 2, text: "kernel --timeout", msg: "--timeout needs a value",
		},
		{
			name: "empty script", script: "",
			file: file, line: 1, text: "", msg: "expected #!ipxe",
		},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var vars []byte
			if !tt.varsAbsent {
				vars = []byte(tt.vars)
			}
			got, err := ParseIPXE(file, []byte(tt.script), vars)
			var pe *ParseError
			if !errors.As(err, &pe) {
				t.Fatalf("ParseIPXE = %+v, %v; want a *ParseError", got, err)
			}
			if pe.File != tt.file || pe.Line != tt.line || pe.Text != tt.text || !strings.Contains(pe.Msg, tt.msg) {
				t.Errorf("ParseIPXE error = %#v\nwant File %q Line %d Text %q Msg containing %q", pe, tt.file, tt.line, tt.text, tt.msg)
			}
		})
	}
}
