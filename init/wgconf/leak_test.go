package wgconf

import (
	"fmt"
	"strings"
	"testing"
)

// A private or preshared key that was mangled on its way into wg0.conf
// (split over two lines, truncated, with a stray character, pasted as a
// bare line or into the wrong field) is never echoed, not even in part:
// no 8 characters of it in a row reach an error or a warning.
func TestMangledKeysAreNeverEchoed(t *testing.T) {
	for i := 0; i < 8; i++ {
		k, err := GeneratePrivateKey()
		if err != nil {
			t.Fatal(err)
		}
		key := k.String()
		var mangled []string
		for cut := 1; cut < len(key); cut++ {
			mangled = append(mangled,
				"PrivateKey = "+key[:cut]+"\n"+key[cut:]+"\n",    // split over two lines
				"PrivateKey = "+key[:cut]+"\n = "+key[cut:]+"\n", // a continuation that looks like a value
				"PrivateKey = "+key[:cut]+"\n",                   // truncated
				"PrivateKey = "+key[:cut]+" "+key[cut:]+"\n",     // a stray space
				"PrivateKey = "+key[:cut]+"#"+key[cut:]+"\n",     // a stray character
				"PrivateKey = "+key[:cut]+"\n["+key[cut:]+"]\n",  // read as a section
				key[cut:]+"\n", // the rest of a key wrapped by an editor
				"["+key[cut:]+"]\n",
				key[:cut]+" "+key[cut:]+"\n",
			)
		}
		mangled = append(mangled,
			key+"\n",
			"ListenPort = "+key+"\n",
			"Address = 10.0.0.2/32, "+key+"\n",
			"DNS = "+key+"\n",
			"Table = "+key+"\n",
			"MTU = "+key+"\n",
			"FwMark = "+key+"\n",
			"SaveConfig = "+key+"\n",
			"["+key+"]\n",
		)
		for _, m := range mangled {
			peer := "[Peer]\nPublicKey = " + bobPub + "\nPresharedKey = " + strings.ReplaceAll(m, "PrivateKey = ", "") + "AllowedIPs = 10.0.0.1\n"
			for _, data := range []string{"[Interface]\n" + m, conf("") + peer} {
				_, warnings, err := Parse("/mnt/secrets/wg0.conf", []byte(data))
				var out []string
				if err != nil {
					out = append(out, err.Error())
				}
				for _, w := range warnings {
					out = append(out, w.String())
				}
				text := strings.Join(out, "\n")
				if leaked := commonRun(text, key, 8); leaked != "" {
					t.Fatalf("%q of the key reached the message:\n%s\n(file:\n%s)", leaked, text, data)
				}
			}
		}
	}
}

// commonRun returns a run of n characters of key that text holds, or "".
func commonRun(text, key string, n int) string {
	for i := 0; i+n <= len(key); i++ {
		if strings.Contains(text, key[i:i+n]) {
			return key[i : i+n]
		}
	}
	return ""
}

func TestCommonRun(t *testing.T) {
	if got := commonRun(fmt.Sprintf("x %s y", "abcdefgh"), "zzabcdefghzz", 8); got != "abcdefgh" {
		t.Errorf("commonRun = %q", got)
	}
}
