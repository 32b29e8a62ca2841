package wgconf

import (
	"crypto/ecdh"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"strings"
)

// Key is a WireGuard key: a Curve25519 private or public key, or a
// preshared key. It is a plain value so that it can be compared and used as
// a map key; private and preshared keys must never be printed or logged.
type Key [32]byte

// keyEncoding is strict like wg(8)'s decoder: the bits past the 32nd byte
// in the last character must be zero, so a key has one spelling only.
var keyEncoding = base64.StdEncoding.Strict()

// keyLen is the length of a key in base64: 43 characters and one '='.
const keyLen = 44

// ParseKey decodes a key as written in wg-quick files and by wg genkey and
// wg pubkey: standard base64 of exactly 32 bytes, with its padding. The
// error never contains s, since s may be a private or preshared key.
func ParseKey(s string) (Key, error) {
	var k Key
	const want = "not a WireGuard key: base64 of 32 bytes expected (44 characters ending in '=')"
	switch {
	case s == "":
		return k, fmt.Errorf("%s, got an empty value", want)
	case len(s) == 64 && isHex(s):
		return k, fmt.Errorf("%s, got 64 hex digits (wg-quick files take keys in base64, as wg genkey prints them)", want)
	case len(s) != keyLen:
		return k, fmt.Errorf("%s, got %d characters", want, len(s))
	case s[keyLen-1] != '=':
		return k, fmt.Errorf("%s, got 44 characters not ending in '='", want)
	}
	if i := strings.IndexFunc(s[:keyLen-1], func(r rune) bool { return !isBase64(r) }); i >= 0 {
		return k, fmt.Errorf("%s, got a character outside the base64 alphabet at position %d", want, i+1)
	}
	n, err := keyEncoding.Decode(k[:], []byte(s))
	if err != nil || n != len(k) {
		// Only the trailing bits can be wrong here: the alphabet and the
		// length were checked above.
		return Key{}, fmt.Errorf("%s, got a last character (before '=') that is not canonical: was the key edited by hand?", want)
	}
	return k, nil
}

// MustParseKey is ParseKey for constants in tests and examples; it panics
// on an invalid key.
func MustParseKey(s string) Key {
	k, err := ParseKey(s)
	if err != nil {
		panic(err)
	}
	return k
}

// GeneratePrivateKey returns a new private key from crypto/rand, clamped
// as wg genkey does.
func GeneratePrivateKey() (Key, error) {
	var k Key
	if _, err := rand.Read(k[:]); err != nil {
		return Key{}, fmt.Errorf("generating a WireGuard private key: %v", err)
	}
	k[0] &= 248
	k[31] = k[31]&127 | 64
	return k, nil
}

// PublicKey returns the public key of the private key k (X25519 with the
// base point, as wg pubkey computes it). Clamping is part of X25519, so an
// unclamped private key gives the same result as its clamped form.
func (k Key) PublicKey() Key {
	priv, err := ecdh.X25519().NewPrivateKey(k[:])
	if err != nil {
		// NewPrivateKey fails only on a length other than 32.
		panic("wgconf: " + err.Error())
	}
	var pub Key
	copy(pub[:], priv.PublicKey().Bytes())
	return pub
}

// String returns the key in base64, as wg pubkey prints it. Call it on
// PUBLIC keys only: private and preshared keys must never be printed,
// logged or put in a report. Config, Interface and Peer format themselves
// without them.
func (k Key) String() string { return k.base64() }

// base64 is String for the one place that must write secrets: Marshal.
func (k Key) base64() string { return keyEncoding.EncodeToString(k[:]) }

// Hex returns the key in lowercase hex, as wireguard-go's UAPI (IpcSet)
// takes it.
func (k Key) Hex() string { return hex.EncodeToString(k[:]) }

// IsZero reports whether k is all zeros, which WireGuard treats as no key.
func (k Key) IsZero() bool { return k == Key{} }

func isBase64(r rune) bool {
	return 'A' <= r && r <= 'Z' || 'a' <= r && r <= 'z' || '0' <= r && r <= '9' || r == '+' || r == '/'
}

func isHex(s string) bool {
	for _, r := range s {
		if !('0' <= r && r <= '9' || 'a' <= r && r <= 'f' || 'A' <= r && r <= 'F') {
			return false
		}
	}
	return true
}
