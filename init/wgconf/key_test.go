package wgconf

import (
	"strings"
	"testing"
)

// RFC 7748 section 6.1: Alice's and Bob's X25519 key pairs, in base64.
const (
	alicePriv = "dwdtCnMYpX08FsFyUbJmRd9ML4frwJkqsXf7pR25LCo=" // 77076d0a...1db92c2a
	alicePub  = "hSDwCYkwp1R0i33ctD73Wg2/Og0mOBr066SpjqqbTmo=" // 8520f009...aa9b4e6a
	bobPriv   = "XasIfmJKikt54X+Lg4AO5m87sSkmGLb9HC+LJ/+I4Os=" // 5dab087e...ff88e0eb
	bobPub    = "3p7bfXt9wbTTW2HC7OQ1Nz+DQ8hbeGdNrfx+FG+IK08=" // de9edb7d...6f882b4f
)

func TestPublicKeyRFC7748(t *testing.T) {
	for _, tc := range []struct{ priv, pub, pubHex string }{
		{alicePriv, alicePub, "8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a"},
		{bobPriv, bobPub, "de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f"},
	} {
		priv, err := ParseKey(tc.priv)
		if err != nil {
			t.Fatal(err)
		}
		pub := priv.PublicKey()
		if pub.String() != tc.pub || pub.Hex() != tc.pubHex {
			t.Errorf("public key = %s (%s), want %s (%s)", pub, pub.Hex(), tc.pub, tc.pubHex)
		}
	}
	if got := MustParseKey(alicePriv).Hex(); got != "77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a" {
		t.Errorf("Hex = %s", got)
	}
}

func TestParseKey(t *testing.T) {
	const want = "not a WireGuard key: base64 of 32 bytes expected (44 characters ending in '='), got "
	for _, tc := range []struct{ in, msg string }{
		{"", "an empty value"},
		{alicePub[:43], "43 characters"},
		{alicePub + "=", "45 characters"},
		{alicePub[:43] + "A", "44 characters not ending in '='"},
		{"hSDwCYkwp1R0i33ctD73Wg2/Og0mOBr066Sp-qqbTmo=", "a character outside the base64 alphabet at position 37"},
		{"hSDwCYkwp1R0i33ctD73Wg2/Og0mOBr066SpjqqbTmp=", "not canonical"},
		{"8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a", "64 hex digits"},
		{"hSDwCYkwp1R0i33ctD73Wg2/Og0mOBr066SpjqqbTm==", "outside the base64 alphabet at position 43"},
	} {
		_, err := ParseKey(tc.in)
		if err == nil {
			t.Errorf("ParseKey(%q) succeeded", tc.in)
			continue
		}
		if !strings.HasPrefix(err.Error(), want) || !strings.Contains(err.Error(), tc.msg) {
			t.Errorf("ParseKey(%q) = %q, want %q...%q", tc.in, err, want, tc.msg)
		}
		if len(tc.in) > 8 && strings.Contains(err.Error(), tc.in[:8]) {
			t.Errorf("ParseKey(%q) error quotes its input: %q", tc.in, err)
		}
	}
	k, err := ParseKey(alicePub)
	if err != nil || k.String() != alicePub {
		t.Errorf("ParseKey(%q) = %s, %v", alicePub, k, err)
	}
}

func TestGeneratePrivateKey(t *testing.T) {
	seen := map[Key]bool{}
	for range 50 {
		k, err := GeneratePrivateKey()
		if err != nil {
			t.Fatal(err)
		}
		if k[0]&7 != 0 || k[31]&128 != 0 || k[31]&64 == 0 {
			t.Fatalf("key not clamped: first byte %#x, last byte %#x", k[0], k[31])
		}
		if seen[k] || k.IsZero() || k.PublicKey().IsZero() {
			t.Fatal("repeated or zero key")
		}
		seen[k] = true
		if back, err := ParseKey(k.base64()); err != nil || back != k {
			t.Fatalf("base64 round trip: %v", err)
		}
	}
}

func TestUnclampedPrivateKey(t *testing.T) {
	// wg(8) accepts any 32 bytes as a private key and clamps when it uses
	// it, so an unclamped key has the public key of its clamped form.
	k := MustParseKey(alicePriv)
	c := k
	c[0] &= 248
	c[31] = c[31]&127 | 64
	if k.PublicKey() != c.PublicKey() {
		t.Error("clamping changed the public key")
	}
}
