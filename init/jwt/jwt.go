// Package jwt holds the rules for the Engine API JWT secret (jwt.hex) that
// the execution and consensus clients share: what every client accepts,
// and whether the copies on a volume agree. The init's secrets stage and
// `homestaker prepare`/`check` use it; nothing here puts the secret in an
// error, a log line or a String().
package jwt

import (
	"bytes"
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"fmt"
	"io"
)

// Secret is the Engine API secret: 32 bytes that the execution and
// consensus clients must share. It prints as "JWT(redacted)" with every fmt verb and
// in JSON, so that it cannot leak into a log or the boot report by
// accident; only Encode gives the value.
type Secret [32]byte

const redacted = "JWT(redacted)"

func (Secret) String() string   { return redacted }
func (Secret) GoString() string { return redacted }

// Format redacts %v, %x, %s, %q, %#v and every other verb alike.
func (Secret) Format(f fmt.State, verb rune) { io.WriteString(f, redacted) }

// MarshalText redacts the key in JSON and other text encodings.
func (Secret) MarshalText() ([]byte, error) { return []byte(redacted), nil }

// Encode returns the key as jwt.hex holds it: 64 lowercase hex digits and a
// newline, which is what `openssl rand -hex 32` writes and what the guide
// tells operators to run. Every client accepts it, unlike a 0x prefix,
// which some older tools reject.
func (j Secret) Encode() []byte {
	b := make([]byte, 0, 2*len(j)+1)
	b = hex.AppendEncode(b, j[:])
	return append(b, '\n')
}

// Equal compares in constant time.
func (j Secret) Equal(o Secret) bool { return subtle.ConstantTimeCompare(j[:], o[:]) == 1 }

// Generate returns a new random key.
func Generate() (Secret, error) {
	var j Secret
	for j == (Secret{}) { // all zeros is refused by Parse; as likely as a meteorite
		if _, err := rand.Read(j[:]); err != nil {
			return Secret{}, fmt.Errorf("generating the JWT secret: %w", err)
		}
	}
	return j, nil
}

// Error says what is wrong with a JWT secret and why, never quoting it.
type Error struct {
	// Path is the copy concerned, relative to the volume (e.g.
	// "erigon/jwt.hex"); "" from Parse and for problems across copies.
	Path string
	Msg  string
}

func (e *Error) Error() string {
	if e.Path == "" {
		return "JWT secret: " + e.Msg
	}
	return e.Path + ": " + e.Msg
}

func errorf(format string, args ...any) *Error {
	return &Error{Msg: fmt.Sprintf(format, args...)}
}

// isTrailingSpace is what Parse trims at the end: what an editor, echo
// or a Windows line end leaves, and what geth, erigon (strings.TrimSpace)
// and lighthouse (trim_end) all remove.
func isTrailingSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\r' || c == '\n' }

func isSpace(c byte) bool { return isTrailingSpace(c) || c == '\v' || c == '\f' }

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

// Parse reads a jwt.hex file under the intersection of what geth, erigon
// and lighthouse accept, so that a file that passes works with every pair:
// exactly 64 hex digits (either case), an optional lowercase "0x" before
// them, then only spaces, tabs, CR or LF. Leading whitespace and "0X" are
// refused because lighthouse refuses them, and an all-zero key because it
// is no secret. Errors are *Error and give positions, never content.
func Parse(data []byte) (Secret, error) {
	if len(data) == 0 {
		return Secret{}, errorf("the file is empty, want 64 hex digits")
	}
	if len(data) >= 3 && data[0] == 0xef && data[1] == 0xbb && data[2] == 0xbf {
		return Secret{}, errorf("starts with a UTF-8 byte order mark (as some Windows editors save), which no client accepts")
	}
	if isSpace(data[0]) {
		end := len(data)
		for end > 0 && isSpace(data[end-1]) {
			end--
		}
		if end == 0 {
			return Secret{}, errorf("holds only whitespace, want 64 hex digits")
		}
		return Secret{}, errorf("starts with whitespace, which lighthouse does not accept (it trims only the end)")
	}

	body := data
	for len(body) > 0 && isTrailingSpace(body[len(body)-1]) {
		body = body[:len(body)-1]
	}
	start := 0 // offset of body's first digit in data, for positions
	switch {
	case len(body) >= 2 && body[0] == '0' && body[1] == 'x':
		start = 2
	case len(body) >= 2 && body[0] == '0' && body[1] == 'X':
		return Secret{}, errorf("uses 0X; lighthouse accepts only a lowercase 0x")
	}
	digits := body[start:]
	for i, c := range digits {
		if isHex(c) {
			continue
		}
		pos := start + i + 1
		if isSpace(c) {
			if bytes.IndexFunc(digits[i:], func(r rune) bool { return r > 0x7f || !isSpace(byte(r)) }) < 0 {
				return Secret{}, errorf("ends with a vertical tab or form feed at byte %d; only spaces, tabs, CR and LF may follow the key", pos)
			}
			return Secret{}, errorf("has whitespace at byte %d followed by more content; only whitespace at the end is allowed (one key, on one line)", pos)
		}
		return Secret{}, errorf("has a byte that is not a hex digit at byte %d, want 64 hex digits (0-9, a-f, A-F)", pos)
	}
	if len(digits) != 64 {
		return Secret{}, errorf("has %d hex digits, want 64 (32 bytes)", len(digits))
	}
	var j Secret
	hex.Decode(j[:], digits) // cannot fail: 64 hex digits
	if j == (Secret{}) {
		return Secret{}, errorf("is all zeros, which is no secret; generate one with `openssl rand -hex 32`")
	}
	return j, nil
}
