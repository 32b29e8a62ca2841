package config

import "strconv"

// The zero value of each mode is its default, so that a zero Config reads
// as the documented behaviour where one exists.

// WGMode is homestaker.wg: how much the boot depends on the tunnel.
type WGMode int

const (
	WGRequired WGMode = iota // no tunnel, no boot
	WGOptional               // warn and go on
	WGOff                    // do not start the tunnel
)

var wgNames = []string{"required", "optional", "off"}

func (m WGMode) String() string { return enumName(wgNames, int(m), "WGMode") }

// VerifyMode is homestaker.verify: how the next stage is checked.
type VerifyMode int

const (
	VerifyAuto      VerifyMode = iota // signature when a trusted key is built in, else checksum
	VerifySignature                   // SHA256SUMS.minisig by a trusted key, and SHA256SUMS
	VerifyChecksum                    // SHA256SUMS when present, a loud warning when absent
	VerifyOff
)

var verifyNames = []string{"auto", "signature", "checksum", "off"}

func (m VerifyMode) String() string { return enumName(verifyNames, int(m), "VerifyMode") }

// HandoverMode is homestaker.handover: how the next stage gets the machine.
type HandoverMode int

const (
	HandoverKexec HandoverMode = iota
	HandoverSwitchRoot
)

var handoverNames = []string{"kexec", "switchroot"}

func (m HandoverMode) String() string { return enumName(handoverNames, int(m), "HandoverMode") }

// OnFailAction is what homestaker.onfail does after the failure banner.
type OnFailAction int

const (
	OnFailShell OnFailAction = iota
	OnFailReboot
	OnFailPoweroff
)

var onFailNames = []string{"shell", "reboot", "poweroff"}

func (a OnFailAction) String() string { return enumName(onFailNames, int(a), "OnFailAction") }

// RescueMode is homestaker.rescue: the SSH server on the tunnel addresses.
type RescueMode int

const (
	RescueAuto RescueMode = iota // on when the tunnel is up
	RescueSSH
	RescueOff
)

var rescueNames = []string{"auto", "ssh", "off"}

func (m RescueMode) String() string { return enumName(rescueNames, int(m), "RescueMode") }

// SourceKind is where a next stage lives. The zero value is no kind, so
// that a zero Source is recognisably unset.
type SourceKind int

const (
	SourceVolume    SourceKind = iota + 1 // volume:/path on the Btrfs top level
	SourceHTTP                            // http:// or https:// URL of a directory
	SourceInitramfs                       // initramfs:/path
)

var sourceNames = []string{"", "volume", "http", "initramfs"}

func (k SourceKind) String() string {
	if k == 0 {
		return "SourceKind(0)"
	}
	return enumName(sourceNames, int(k), "SourceKind")
}

// IPMode is how an ip= entry configures its device.
type IPMode int

const (
	IPDHCP   IPMode = iota // dhcp, on, any
	IPOff                  // off, none
	IPStatic               // a client address with autoconf empty, off or none
	IPDHCP6
	IPAuto6
)

var ipModeNames = []string{"dhcp", "off", "static", "dhcp6", "auto6"}

func (m IPMode) String() string { return enumName(ipModeNames, int(m), "IPMode") }

func enumName(names []string, i int, typ string) string {
	if i < 0 || i >= len(names) {
		return typ + "(" + strconv.Itoa(i) + ")"
	}
	return names[i]
}

// enumIndex returns the index of s in names, or -1.
func enumIndex(names []string, s string) int {
	for i, n := range names {
		if n == s && n != "" {
			return i
		}
	}
	return -1
}
