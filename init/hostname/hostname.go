// Package hostname holds the rules for the host and domain names the init
// and the CLI accept. They stand side by side because each place that
// takes a name has its own reason for its rule: the kernel's host name and
// what DHCP sends are checked by the characters they may hold, names that
// get resolved by RFC 1123.
package hostname

import "strings"

// CheckKernel says why h cannot be the kernel's host name as ip='s
// hostname field gives it, or "" when it can. The empty name passes: the
// field is optional.
func CheckKernel(h string) string {
	if len(h) > 64 { // __NEW_UTS_LEN
		return "is longer than 64 bytes"
	}
	if !nameChars(h) {
		return "may hold only letters, digits, '-', '.' and '_'"
	}
	return ""
}

// IsSearchDomain reports whether d, sent by a DHCP server, may stand on
// resolv.conf's search line: other programs parse that file, so anything
// beyond letters, digits, '-', '_' and '.' is refused. One trailing dot
// is allowed.
func IsSearchDomain(d string) bool {
	d = strings.TrimSuffix(d, ".")
	return d != "" && len(d) <= 253 && nameChars(d)
}

// IsDNSName reports whether s is a DNS name by RFC 1123: labels of 1 to 63
// letters, digits and '-', not starting or ending with '-', at most 253
// bytes in all, one trailing dot allowed.
func IsDNSName(s string) bool {
	s = strings.TrimSuffix(s, ".")
	if s == "" || len(s) > 253 {
		return false
	}
	for _, l := range strings.Split(s, ".") {
		if l == "" || len(l) > 63 || l[0] == '-' || l[len(l)-1] == '-' {
			return false
		}
		for _, r := range l {
			if !('a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9' || r == '-') {
				return false
			}
		}
	}
	return true
}

func nameChars(s string) bool {
	for _, r := range s {
		if !('a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9' || r == '-' || r == '.' || r == '_') {
			return false
		}
	}
	return true
}
