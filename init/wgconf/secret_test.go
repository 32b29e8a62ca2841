package wgconf

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
)

// secretsIn returns every way a message could leak k: any 20 characters
// of its base64 or of its hex.
func secretsIn(k Key) []string {
	var out []string
	for _, enc := range []string{k.base64(), k.Hex()} {
		for i := 0; i+20 <= len(enc); i++ {
			out = append(out, enc[i:i+20])
		}
	}
	return out
}

func assertNoSecret(t *testing.T, what, text string, keys ...Key) {
	t.Helper()
	for _, k := range keys {
		for _, s := range secretsIn(k) {
			if strings.Contains(text, s) {
				t.Errorf("%s shows a secret key:\n%s", what, text)
				return
			}
		}
	}
}

// TestNoSecretInMessages puts generated private and preshared keys where
// they do not belong, or makes them slightly wrong, and checks that no
// error or warning shows them.
func TestNoSecretInMessages(t *testing.T) {
	priv, err := GeneratePrivateKey()
	if err != nil {
		t.Fatal(err)
	}
	psk, err := GeneratePrivateKey()
	if err != nil {
		t.Fatal(err)
	}
	P, S := priv.base64(), psk.base64()
	peer := "[Peer]\nPublicKey = " + bobPub + "\nAllowedIPs = 10.0.0.0/24\n"
	good := "[Interface]\nPrivateKey = " + P + "\n"
	cases := map[string]string{
		"duplicate PrivateKey":        good + "PrivateKey = " + P + "\n",
		"PrivateKey with junk":        "[Interface]\nPrivateKey = " + P + " x\n",
		"PrivateKey one short":        "[Interface]\nPrivateKey = " + P[:43] + "\n",
		"PrivateKey one long":         "[Interface]\nPrivateKey = " + P + "A\n",
		"PrivateKey without padding":  "[Interface]\nPrivateKey = " + P[:43] + "A\n",
		"PrivateKey without =":        "[Interface]\nPrivateKey " + P + "\n",
		"PrivateKey, a space in it":   "[Interface]\nPrivateKey = " + P[:20] + " " + P[20:] + "\n",
		"PrivateKey outside":          "PrivateKey = " + P + "\n[Interface]\n",
		"PrivateKey in [Peer]":        good + peer + "PrivateKey = " + P + "\n",
		"PrivateKey misspelt":         "[Interface]\nPrivatKey = " + P + "\n",
		"PrivateKey alone on a line":  "[Interface]\n" + P + "\n",
		"PrivateKey as a section":     "[" + P + "]\n",
		"PrivateKey as a key name":    "[Interface]\n" + P + "PrivateKey = 1\n",
		"PrivateKey as Endpoint":      good + peer + "Endpoint = " + P + "\n",
		"PrivateKey as Endpoint host": good + peer + "Endpoint = " + P + ":51820\n",
		"PrivateKey in brackets":      good + peer + "Endpoint = [" + P + "]:51820\n",
		"PrivateKey as AllowedIPs":    good + peer + "AllowedIPs = 10.0.0.1, " + P + "\n",
		"PrivateKey as Address":       good + "Address = " + P + "\n",
		"PrivateKey as DNS":           good + "DNS = " + P + "\n",
		"PrivateKey as MTU":           good + "MTU = " + P + "\n",
		"PrivateKey as Table":         good + "Table = " + P + "\n",
		"PrivateKey as FwMark":        good + "FwMark = 0x" + P + "\n",
		"PrivateKey as ListenPort":    good + "ListenPort = " + P + "\n",
		"PrivateKey as SaveConfig":    good + "SaveConfig = " + P + "\n",
		"PrivateKey as keepalive":     good + peer + "PersistentKeepalive = " + P + "\n",
		"PrivateKey as PublicKey":     good + "[Peer]\nPublicKey = " + P[:43] + "\n",
		"PrivateKey as own peer":      good + "[Peer]\nPublicKey = " + priv.PublicKey().String() + "\n",
		"PrivateKey twice, no peer":   good + "[Interface]\nPrivateKey = " + P + "\n",
		"PresharedKey one short":      good + peer + "PresharedKey = " + S[:43] + "\n",
		"PresharedKey one long":       good + peer + "PresharedKey = " + S + "=\n",
		"PresharedKey twice":          good + peer + "PresharedKey = " + S + "\nPresharedKey = " + S + "\n",
		"PresharedKey in [Interface]": good + "PresharedKey = " + S + "\n",
		"PresharedKey as Endpoint":    good + peer + "Endpoint = " + S + ":1\n",
		"PresharedKey in a hook":      good + "PostUp = wg set %i peer " + bobPub + " preshared-key <(echo " + S + ")\n" + peer,
		"PrivateKey in a hook":        good + "PreUp = echo " + P + " > /tmp/k\nSaveConfig = true\n" + peer + "AllowedIPs = 10.0.0.1/8\n",
		"secrets, then an error":      good + "PostUp = echo " + S + "\n" + peer + "PresharedKey = " + S + "\nEndpoint = x\n",
	}
	for name, data := range cases {
		for _, d := range []string{data, strings.ReplaceAll(data, "\n", "\r\n")} {
			c, ws, err := Parse(file, []byte(d))
			if err != nil {
				assertNoSecret(t, name+": error", err.Error(), priv, psk)
			}
			for _, w := range ws {
				assertNoSecret(t, name+": warning", w.String(), priv, psk)
			}
			if c != nil {
				assertNoSecret(t, name+": formatted config", formatAll(t, c), priv, psk)
			}
		}
	}
}

// formatAll prints a config every way a careless caller might.
func formatAll(t *testing.T, c *Config) string {
	t.Helper()
	j, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	b.Write(j)
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%x", "%q"} {
		fmt.Fprintf(&b, "|"+verb+"|"+verb+"|"+verb+"|"+verb+"|"+verb, c, *c, c.Interface, &c.Interface, c.Peers)
		for i := range c.Peers {
			fmt.Fprintf(&b, "|"+verb+"|"+verb, c.Peers[i], &c.Peers[i])
		}
	}
	return b.String()
}

func TestFormatHidesSecrets(t *testing.T) {
	priv, _ := GeneratePrivateKey()
	psk, _ := GeneratePrivateKey()
	c, _ := mustParse(t, "[Interface]\nPrivateKey = "+priv.base64()+"\nAddress = 10.0.0.2/32\nPostUp = echo "+psk.base64()+"\n"+
		"[Peer]\nPublicKey = "+bobPub+"\nPresharedKey = "+psk.base64()+"\nAllowedIPs = 10.0.0.0/24\nEndpoint = vpn.example.org:51820\n")
	out := formatAll(t, c)
	assertNoSecret(t, "formatted config", out, priv, psk)
	// What the report needs is there.
	for _, want := range []string{priv.PublicKey().String(), bobPub, "vpn.example.org:51820", "10.0.0.0/24", "PostUp@4", `"preshared_key":true`, `"public_key":"` + bobPub} {
		if !strings.Contains(out, want) {
			t.Errorf("formatted config lacks %q:\n%s", want, out)
		}
	}
}

func TestQuoteHidesKeys(t *testing.T) {
	k := MustParseKey(alicePriv)
	for _, tc := range []struct{ in, want string }{
		{"vpn.example.org:51820", `"vpn.example.org:51820"`},
		{alicePriv + ":51820", `"<hidden>:51820"`},
		{"x " + alicePriv[:40] + " y", `"x <hidden> y"`},
		{"x " + alicePriv[:39] + " y", `"x ` + alicePriv[:39] + ` y"`},
		{k.Hex(), `"<hidden>"`},
		{strings.Repeat("a.", 40), `"` + strings.Repeat("a.", 30) + `a..."`},
		{"\x00é", `"\x00é"`},
	} {
		if got := quote(tc.in); got != tc.want {
			t.Errorf("quote(%q) = %s, want %s", tc.in, got, tc.want)
		}
	}
}
