// Package secret holds the rules for the secrets on a HomestakerOS volume
// that the init checks at every boot and `homestaker prepare`/`check` write
// and check: the Engine API JWT shared by the execution and consensus
// clients, and the SSH host key. No function here puts a secret value in an
// error, a log line or a String().
package secret

import (
	"bytes"
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"fmt"
	"io"
)

// JWT is the Engine API secret: 32 bytes that the execution and consensus
// clients must share. It prints as "JWT(redacted)" with every fmt verb and
// in JSON, so that it cannot leak into a log or the boot report by
// accident; only Encode gives the value.
type JWT [32]byte

const redactedJWT = "JWT(redacted)"

func (JWT) String() string   { return redactedJWT }
func (JWT) GoString() string { return redactedJWT }

// Format redacts %v, %x, %s, %q, %#v and every other verb alike.
func (JWT) Format(f fmt.State, verb rune) { io.WriteString(f, redactedJWT) }

// MarshalText redacts the key in JSON and other text encodings.
func (JWT) MarshalText() ([]byte, error) { return []byte(redactedJWT), nil }

// Encode returns the key as jwt.hex holds it: 64 lowercase hex digits and a
// newline, which is what `openssl rand -hex 32` writes and what the guide
// tells operators to run. Every client accepts it, unlike a 0x prefix,
// which some older tools reject.
func (j JWT) Encode() []byte {
	b := make([]byte, 0, 2*len(j)+1)
	b = hex.AppendEncode(b, j[:])
	return append(b, '\n')
}

// Equal compares in constant time.
func (j JWT) Equal(o JWT) bool { return subtle.ConstantTimeCompare(j[:], o[:]) == 1 }

// GenerateJWT returns a new random key.
func GenerateJWT() (JWT, error) {
	var j JWT
	for j == (JWT{}) { // all zeros is refused by ParseJWT; as likely as a meteorite
		if _, err := rand.Read(j[:]); err != nil {
			return JWT{}, fmt.Errorf("generating the JWT secret: %w", err)
		}
	}
	return j, nil
}

// JWTError says what is wrong with a JWT secret and why, never quoting it.
type JWTError struct {
	// Path is the copy concerned, relative to the volume (e.g.
	// "erigon/jwt.hex"); "" from ParseJWT and for problems across copies.
	Path string
	Msg  string
}

func (e *JWTError) Error() string {
	if e.Path == "" {
		return "JWT secret: " + e.Msg
	}
	return e.Path + ": " + e.Msg
}

func jwtErr(format string, args ...any) *JWTError {
	return &JWTError{Msg: fmt.Sprintf(format, args...)}
}

// isTrailingSpace is what ParseJWT trims at the end: what an editor, echo
// or a Windows line end leaves, and what geth, erigon (strings.TrimSpace)
// and lighthouse (trim_end) all remove.
func isTrailingSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\r' || c == '\n' }

func isSpace(c byte) bool { return isTrailingSpace(c) || c == '\v' || c == '\f' }

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

// ParseJWT reads a jwt.hex file under the intersection of what geth, erigon
// and lighthouse accept, so that a file that passes works with every pair:
// exactly 64 hex digits (either case), an optional lowercase "0x" before
// them, then only spaces, tabs, CR or LF. Leading whitespace and "0X" are
// refused because lighthouse refuses them, and an all-zero key because it
// is no secret. Errors are *JWTError and give positions, never content.
func ParseJWT(data []byte) (JWT, error) {
	if len(data) == 0 {
		return JWT{}, jwtErr("the file is empty, want 64 hex digits")
	}
	if len(data) >= 3 && data[0] == 0xef && data[1] == 0xbb && data[2] == 0xbf {
		return JWT{}, jwtErr("starts with a UTF-8 byte order mark (as some Windows editors save), which no client accepts")
	}
	if isSpace(data[0]) {
		end := len(data)
		for end > 0 && isSpace(data[end-1]) {
			end--
		}
		if end == 0 {
			return JWT{}, jwtErr("holds only whitespace, want 64 hex digits")
		}
		return JWT{}, jwtErr("starts with whitespace, which lighthouse does not accept (it trims only the end)")
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
		return JWT{}, jwtErr("uses 0X; lighthouse accepts only a lowercase 0x")
	}
	digits := body[start:]
	for i, c := range digits {
		if isHex(c) {
			continue
		}
		pos := start + i + 1
		if isSpace(c) {
			if bytes.IndexFunc(digits[i:], func(r rune) bool { return r > 0x7f || !isSpace(byte(r)) }) < 0 {
				return JWT{}, jwtErr("ends with a vertical tab or form feed at byte %d; only spaces, tabs, CR and LF may follow the key", pos)
			}
			return JWT{}, jwtErr("has whitespace at byte %d followed by more content; only whitespace at the end is allowed (one key, on one line)", pos)
		}
		return JWT{}, jwtErr("has a byte that is not a hex digit at byte %d, want 64 hex digits (0-9, a-f, A-F)", pos)
	}
	if len(digits) != 64 {
		return JWT{}, jwtErr("has %d hex digits, want 64 (32 bytes)", len(digits))
	}
	var j JWT
	hex.Decode(j[:], digits) // cannot fail: 64 hex digits
	if j == (JWT{}) {
		return JWT{}, jwtErr("is all zeros, which is no secret; generate one with `openssl rand -hex 32`")
	}
	return j, nil
}
