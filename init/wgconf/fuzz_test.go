package wgconf

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

// secretValues returns the PrivateKey and PresharedKey values of a file,
// split as wg-quick splits lines, that could be keys: long runs of base64
// characters. Those must never appear in a message.
func secretValues(data []byte) []string {
	var out []string
	for line := range strings.SplitSeq(string(data), "\n") {
		if i := strings.IndexByte(line, '#'); i >= 0 {
			line = line[:i]
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			continue
		}
		k, v = strings.TrimSpace(k), strings.TrimSpace(v)
		if (strings.EqualFold(k, "PrivateKey") || strings.EqualFold(k, "PresharedKey")) && len(v) >= minSecretRun &&
			strings.IndexFunc(v, func(r rune) bool { return !isBase64(r) && r != '=' }) < 0 {
			out = append(out, v)
		}
	}
	return out
}

func FuzzParse(f *testing.F) {
	priv, err := GeneratePrivateKey()
	if err != nil {
		f.Fatal(err)
	}
	psk, err := GeneratePrivateKey()
	if err != nil {
		f.Fatal(err)
	}
	P, S := priv.base64(), psk.base64()
	f.Add([]byte(homestakerConf))
	f.Add([]byte(strings.ReplaceAll(homestakerConf, "\n", "\r\n")))
	f.Add([]byte("\ufeff" + homestakerConf))
	f.Add([]byte(conf("ListenPort = 51820\nFwMark = 0xca6c\nAddress = 10.0.0.2/24, fd00::2/64\nDNS = 1.1.1.1, home.arpa, fe80::1%eth0\n"+
		"MTU = 1280\nTable = auto\nSaveConfig = true\nPostUp = iptables -A FORWARD -i %i -j ACCEPT\nPreDown = x # y\n",
		peerBob+"PresharedKey = "+S+"\nAllowedIPs = 0.0.0.0/0, ::/0\nAllowedIPs = 10.0.0.1/24\nEndpoint = [2001:db8::1]:51820\nPersistentKeepalive = off\n",
		"PublicKey = "+priv.PublicKey().PublicKey().String()+"\nEndpoint = 192.0.2.7:1\nAllowedIPs =\n")))
	f.Add([]byte("[Interface]\nPrivateKey = " + P + "\nPrivateKey = " + P + "\n"))
	f.Add([]byte("[Interface]\nPrivateKey = " + P + "\n[Peer]\nPublicKey = " + bobPub + "\nPresharedKey = " + S[:43] + "\n"))
	f.Add([]byte("[Interface]\nPrivateKey = " + P + "\n[Peer]\nPublicKey = " + bobPub + "\nEndpoint = " + P + ":1\n"))
	f.Add([]byte("[interface]\nprivatekey=" + P + "\n[peer]\npublickey=" + bobPub + "\nendpoint=fd00::1:51820\n"))
	f.Add([]byte("[Peer]\nPublicKey = " + bobPub + "\n[Interface]\nListenPort = 1\n"))
	f.Add([]byte("PrivateKey " + P + "\n[" + S + "]\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, ws, err := Parse(file, data)
		secrets := secretValues(data)
		var texts []string
		for _, w := range ws {
			if w.File != file {
				t.Fatalf("warning for another file: %s", w)
			}
			texts = append(texts, w.String())
		}
		if err != nil {
			var pe *ParseError
			if !errors.As(err, &pe) || pe.File != file || pe.Line < 0 || c != nil {
				t.Fatalf("bad error %T %v (config %v)", err, err, c)
			}
			texts = append(texts, err.Error())
		} else {
			texts = append(texts, formatAll(t, c))
		}
		for _, s := range secrets {
			for _, text := range texts {
				if strings.Contains(text, s) {
					t.Fatalf("a message shows the secret %q:\n%s", s, text)
				}
			}
		}
		if err != nil {
			return
		}
		out := Marshal(c)
		back, _, err := Parse(file, out)
		if err != nil {
			t.Fatalf("Parse(Marshal(c)): %v\n%s", err, out)
		}
		if !reflect.DeepEqual(withoutLines(back), withoutLines(c)) {
			t.Fatalf("round trip changed the config\nwas %+v %+v\nnow %+v %+v\n%s", c.Interface, c.Peers, back.Interface, back.Peers, out)
		}
		if again := Marshal(back); string(again) != string(out) {
			t.Fatalf("Marshal is not stable:\n%s\n%s", out, again)
		}
	})
}

func FuzzParseKey(f *testing.F) {
	f.Add(alicePriv)
	f.Add(alicePub[:43])
	f.Add("hSDwCYkwp1R0i33ctD73Wg2/Og0mOBr066SpjqqbTmp=")
	f.Fuzz(func(t *testing.T, s string) {
		k, err := ParseKey(s)
		if err != nil {
			if len(s) >= 8 && strings.Contains(err.Error(), s) {
				t.Fatalf("error shows its input: %v", err)
			}
			return
		}
		if k.String() != s {
			t.Fatalf("ParseKey(%q) round trips to %q", s, k)
		}
	})
}
