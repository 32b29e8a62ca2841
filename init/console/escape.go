package console

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// Escape makes one line of text safe for a terminal: text from the network
// (an HTTP status reason, a DHCP host name, a server's error) reaches the
// console, and an ESC, CR or backspace in it could rewrite what the
// operator sees. Control characters (C0 but tab, DEL, C1), invalid UTF-8
// and the Unicode controls that reorder or break lines are written as Go
// escapes (\x1b, \u202e). Escaped text contains none of them, so escaping
// twice changes nothing.
func Escape(line string) string {
	if clean(line) {
		return line
	}
	var sb strings.Builder
	for i := 0; i < len(line); {
		r, n := utf8.DecodeRuneInString(line[i:])
		switch {
		case r == utf8.RuneError && n == 1:
			fmt.Fprintf(&sb, `\x%02x`, line[i])
		case r < 0x20 && r != '\t', r == 0x7f:
			fmt.Fprintf(&sb, `\x%02x`, r)
		case unsafeRune(r):
			fmt.Fprintf(&sb, `\u%04x`, r)
		default:
			sb.WriteString(line[i : i+n])
		}
		i += n
	}
	return sb.String()
}

// clean is the common case: printable ASCII and tabs only.
func clean(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 && c != '\t' || c >= 0x7f {
			return false
		}
	}
	return true
}

// unsafeRune: C1 controls, line and paragraph separators, and the
// bidirectional overrides and isolates (text that displays reordered).
func unsafeRune(r rune) bool {
	return r >= 0x80 && r < 0xa0 || r == 0x2028 || r == 0x2029 ||
		r >= 0x202a && r <= 0x202e || r >= 0x2066 && r <= 0x2069 || r == 0x200e || r == 0x200f
}
