package wg

import "strings"

// minSecretRun is the shortest run of hex or base64 characters that
// redact hides. A key is 64 hex digits or 43 base64 characters and '=';
// hiding shorter runs as well keeps a key with a few characters cut off
// out of a message too. Nothing this package prints legitimately holds
// such a run: public keys in its own messages are written in full only
// where it means to, never through redact.
const minSecretRun = 40

// redact replaces every run of minSecretRun or more hex or base64
// characters in s by "<hidden>". wireguard-go quotes UAPI lines in some
// of its errors and logs, and our UAPI text holds the private and
// preshared keys in hex: whatever it says goes through here before it
// reaches an error, the console or the report.
func redact(s string) string {
	var b strings.Builder
	run, start := 0, 0
	flush := func(end int) {
		if run >= minSecretRun {
			b.WriteString("<hidden>")
		} else {
			b.WriteString(s[start:end])
		}
		run = 0
	}
	for i := 0; i < len(s); i++ {
		if isKeyChar(s[i]) {
			if run == 0 {
				start = i
			}
			run++
			continue
		}
		if run > 0 {
			flush(i)
		}
		b.WriteByte(s[i])
	}
	if run > 0 {
		flush(len(s))
	}
	return b.String()
}

// isKeyChar reports whether c can be part of a key in hex or base64.
func isKeyChar(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '+' || c == '/' || c == '='
}
