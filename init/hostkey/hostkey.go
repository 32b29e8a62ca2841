// Package hostkey reads, checks and generates the SSH host key that the
// rescue server presents: an OpenSSH Ed25519 key, ssh/id_ed25519 in the
// secrets subvolume. The init's secrets stage and `homestaker
// prepare`/`check` use it; no error quotes key material.
package hostkey

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/binary"
	"encoding/pem"
	"errors"
	"fmt"
	"strings"
)

// The OpenSSH private key format (openssh-portable PROTOCOL.key) and the
// SSH wire encoding of public keys (RFC 4253 6.6, RFC 8709), written out
// here for the one key type needed, so that each refusal can say what the
// file holds and the command that fixes it.

const (
	keyTypeEd25519 = "ssh-ed25519"
	opensshMagic   = "openssh-key-v1\x00"
	opensshPEMType = "OPENSSH PRIVATE KEY"
)

// Parse parses the SSH host key file: an unencrypted OpenSSH private
// key of type ssh-ed25519. Anything else is an error that names what was
// found (another key type, a PEM key of another format, an encrypted key)
// and never quotes key material. It returns the private key and its public
// half.
func Parse(data []byte) (ed25519.PrivateKey, ed25519.PublicKey, error) {
	block, _ := pem.Decode(data)
	if block == nil {
		return nil, nil, notPEM(data)
	}
	if block.Type != opensshPEMType {
		return nil, nil, otherPEM(block)
	}
	return parseOpenSSHKey(block.Bytes)
}

func notPEM(data []byte) error {
	s := string(bytes.TrimSpace(data))
	switch {
	case s == "":
		return errors.New("the SSH host key file is empty")
	case strings.HasPrefix(s, "ssh-") || strings.HasPrefix(s, "ecdsa-sha2-"):
		return errors.New("the SSH host key file holds a public key; the private key belongs here, the public key in the .pub file")
	case strings.HasPrefix(s, "PuTTY-User-Key-File"):
		return errors.New("the SSH host key file is a PuTTY key; convert it with `puttygen KEY -O private-openssh-new`")
	case strings.HasPrefix(s, "---- BEGIN SSH2"):
		return errors.New("the SSH host key file is an SSH2 (RFC 4716) key; convert it with `ssh-keygen -i`")
	}
	return fmt.Errorf("the SSH host key file is not a PEM-encoded private key; want %q", "-----BEGIN "+opensshPEMType+"-----")
}

// otherPEM names a PEM key of a format other than OpenSSH's.
func otherPEM(b *pem.Block) error {
	const want = "the host key must be an OpenSSH ssh-ed25519 key (ssh-keygen -t ed25519)"
	enc := ""
	if strings.Contains(b.Headers["Proc-Type"], "ENCRYPTED") {
		enc = ", encrypted"
	}
	switch b.Type {
	case "RSA PRIVATE KEY", "EC PRIVATE KEY":
		return fmt.Errorf("the SSH host key is an %s (PEM)%s; %s", b.Type, enc, want)
	case "DSA PRIVATE KEY":
		return fmt.Errorf("the SSH host key is a %s (PEM)%s; %s", b.Type, enc, want)
	case "PRIVATE KEY":
		alg := "a key"
		if k, err := x509.ParsePKCS8PrivateKey(b.Bytes); err == nil {
			switch k.(type) {
			case ed25519.PrivateKey:
				// Same key, wrong container: say how to convert.
				return errors.New("the SSH host key is an Ed25519 key in PKCS#8 PEM (PRIVATE KEY); the init reads only the OpenSSH format: " +
					"convert it with `ssh-keygen -p -N '' -f KEY`")
			case *rsa.PrivateKey:
				alg = "an RSA key"
			case *ecdsa.PrivateKey:
				alg = "an ECDSA key"
			}
		}
		return fmt.Errorf("the SSH host key is %s in PKCS#8 PEM (PRIVATE KEY); %s", alg, want)
	case "ENCRYPTED PRIVATE KEY":
		return fmt.Errorf("the SSH host key is an encrypted PKCS#8 PEM key: the init cannot ask for a passphrase; %s", want)
	}
	return fmt.Errorf("the SSH host key file holds a PEM block of type %s; %s", quoteName(b.Type), want)
}

// sshReader reads SSH wire-format fields; the first failure sticks.
type sshReader struct {
	b   []byte
	bad bool
}

func (r *sshReader) uint32() uint32 {
	if len(r.b) < 4 {
		r.bad = true
		r.b = nil
		return 0
	}
	v := binary.BigEndian.Uint32(r.b)
	r.b = r.b[4:]
	return v
}

func (r *sshReader) string() []byte {
	n := r.uint32()
	if r.bad || uint64(n) > uint64(len(r.b)) {
		r.bad = true
		r.b = nil
		return nil
	}
	s := r.b[:n]
	r.b = r.b[n:]
	return s
}

func appendString(b, s []byte) []byte {
	b = binary.BigEndian.AppendUint32(b, uint32(len(s)))
	return append(b, s...)
}

// quoteName quotes a name read from a file (a key type, a cipher) for an
// error: names are public, but the file could be anything, so cap and
// escape it.
func quoteName(b string) string {
	if len(b) > 40 {
		b = b[:40] + "..."
	}
	return fmt.Sprintf("%q", b)
}

// knownNames are the key types and ciphers of OpenSSH keys: a name read
// from a file is repeated in an error only when it is one of them, since
// the file could hold anything (a private key pasted into the .pub).
var knownNames = map[string]bool{
	"ssh-ed25519": true, "ssh-rsa": true, "ssh-dss": true, "ssh-ed448": true,
	"ecdsa-sha2-nistp256": true, "ecdsa-sha2-nistp384": true, "ecdsa-sha2-nistp521": true,
	"sk-ssh-ed25519@openssh.com": true, "sk-ecdsa-sha2-nistp256@openssh.com": true,
	"ssh-ed25519-cert-v01@openssh.com": true, "ssh-rsa-cert-v01@openssh.com": true,
	"aes128-ctr": true, "aes192-ctr": true, "aes256-ctr": true, "aes128-cbc": true, "aes192-cbc": true, "aes256-cbc": true,
	"aes128-gcm@openssh.com": true, "aes256-gcm@openssh.com": true, "chacha20-poly1305@openssh.com": true, "3des-cbc": true,
}

// keyTypeName is a key type or cipher from a file, for an error: its name
// when OpenSSH knows it, else a word that repeats nothing of the file.
func keyTypeName(t []byte) string {
	if knownNames[string(t)] {
		return string(t)
	}
	return "(unrecognised, not shown)"
}

var errMalformed = errors.New("the SSH host key is a malformed OpenSSH key (truncated or damaged)")

func parseOpenSSHKey(b []byte) (ed25519.PrivateKey, ed25519.PublicKey, error) {
	if !bytes.HasPrefix(b, []byte(opensshMagic)) {
		return nil, nil, errMalformed
	}
	r := &sshReader{b: b[len(opensshMagic):]}
	cipher, kdf, kdfOpts := r.string(), r.string(), r.string()
	nkeys := r.uint32()
	if r.bad {
		return nil, nil, errMalformed
	}
	if nkeys != 1 {
		return nil, nil, fmt.Errorf("the SSH host key file holds %d keys, want one", nkeys)
	}
	pubBlob := r.string()
	private := r.string()
	if r.bad {
		return nil, nil, errMalformed
	}
	pr := &sshReader{b: pubBlob}
	keyType := pr.string()
	if pr.bad {
		return nil, nil, errMalformed
	}
	if string(cipher) != "none" {
		return nil, nil, fmt.Errorf("the SSH host key (%s) is encrypted with %s: the init cannot ask for a passphrase; "+
			"remove it with `ssh-keygen -p -N '' -f KEY`", keyTypeName(keyType), keyTypeName(cipher))
	}
	if string(kdf) != "none" || len(kdfOpts) != 0 {
		return nil, nil, errMalformed
	}
	if string(keyType) != keyTypeEd25519 {
		return nil, nil, fmt.Errorf("the SSH host key is of type %s; the host key must be ssh-ed25519 (ssh-keygen -t ed25519)", keyTypeName(keyType))
	}
	pub := pr.string()
	if pr.bad || len(pr.b) != 0 || len(pub) != ed25519.PublicKeySize {
		return nil, nil, errMalformed
	}

	// The private section: two equal check words (a wrong passphrase shows
	// as unequal ones), then the key, its comment and padding 1, 2, 3...
	sr := &sshReader{b: private}
	check1, check2 := sr.uint32(), sr.uint32()
	privType, privPub, priv, _ := sr.string(), sr.string(), sr.string(), sr.string()
	if sr.bad || check1 != check2 || string(privType) != keyTypeEd25519 ||
		len(priv) != ed25519.PrivateKeySize || len(sr.b) >= 8 {
		return nil, nil, errMalformed
	}
	for i, c := range sr.b {
		if int(c) != i+1 {
			return nil, nil, errMalformed
		}
	}
	// Three copies of the public key must agree with the seed, or the
	// file is damaged and the host would present a key it cannot use.
	key := ed25519.NewKeyFromSeed(priv[:ed25519.SeedSize])
	derived := key.Public().(ed25519.PublicKey)
	if !bytes.Equal(derived, pub) || !bytes.Equal(privPub, pub) || !bytes.Equal(priv[ed25519.SeedSize:], pub) {
		return nil, nil, errors.New("the SSH host key is damaged: its public key does not match its private key")
	}
	return key, derived, nil
}

// marshalOpenSSHKey writes key in OpenSSH's private key format, unencrypted.
func marshalOpenSSHKey(key ed25519.PrivateKey, comment string) ([]byte, error) {
	pub := key.Public().(ed25519.PublicKey)
	var check [4]byte
	if _, err := rand.Read(check[:]); err != nil {
		return nil, fmt.Errorf("generating the SSH host key: %w", err)
	}
	priv := append(check[:], check[:]...)
	priv = appendString(priv, []byte(keyTypeEd25519))
	priv = appendString(priv, pub)
	priv = appendString(priv, key)
	priv = appendString(priv, []byte(comment))
	for i := byte(1); len(priv)%8 != 0; i++ {
		priv = append(priv, i)
	}

	b := []byte(opensshMagic)
	b = appendString(b, []byte("none"))
	b = appendString(b, []byte("none"))
	b = appendString(b, nil)
	b = binary.BigEndian.AppendUint32(b, 1)
	b = appendString(b, publicBlob(pub))
	b = appendString(b, priv)
	return pem.EncodeToMemory(&pem.Block{Type: opensshPEMType, Bytes: b}), nil
}

// publicBlob is the SSH wire encoding of an Ed25519 public key.
func publicBlob(pub ed25519.PublicKey) []byte {
	return appendString(appendString(nil, []byte(keyTypeEd25519)), pub)
}

// Fingerprint is the key's fingerprint as ssh-keygen -l and ssh print it:
// "SHA256:" and the unpadded base64 of the SHA-256 of the wire encoding.
func Fingerprint(pub ed25519.PublicKey) string {
	sum := sha256.Sum256(publicBlob(pub))
	return "SHA256:" + base64.RawStdEncoding.EncodeToString(sum[:])
}

// AuthorizedKey is the .pub file line for pub: "ssh-ed25519 AAAA... comment\n".
func AuthorizedKey(pub ed25519.PublicKey, comment string) []byte {
	line := keyTypeEd25519 + " " + base64.StdEncoding.EncodeToString(publicBlob(pub))
	if comment != "" {
		line += " " + comment
	}
	return []byte(line + "\n")
}

// CheckPublicKey checks that a .pub file (one authorized_keys line,
// "ssh-ed25519 AAAA... comment") holds pub, so that clients that pinned the
// .pub see the key the host presents.
func CheckPublicKey(pub ed25519.PublicKey, data []byte) error {
	var line string
	for _, l := range strings.Split(string(data), "\n") {
		l = strings.TrimSpace(l)
		if l == "" || strings.HasPrefix(l, "#") {
			continue
		}
		if line != "" {
			return errors.New("the SSH host key's .pub file holds more than one line; want the one public key")
		}
		line = l
	}
	if line == "" {
		return errors.New("the SSH host key's .pub file is empty")
	}
	fields := strings.Fields(line)
	if len(fields) < 2 {
		return errors.New(`the SSH host key's .pub file is not in authorized_keys format ("ssh-ed25519 AAAA... comment")`)
	}
	if fields[0] != keyTypeEd25519 {
		return fmt.Errorf("the SSH host key's .pub file holds a key of type %s, but the private key is ssh-ed25519", keyTypeName([]byte(fields[0])))
	}
	blob, err := base64.StdEncoding.DecodeString(fields[1])
	if err != nil {
		return errors.New("the SSH host key's .pub file has a malformed base64 key")
	}
	r := &sshReader{b: blob}
	typ, key := r.string(), r.string()
	if r.bad || len(r.b) != 0 || string(typ) != keyTypeEd25519 || len(key) != ed25519.PublicKeySize {
		return errors.New("the SSH host key's .pub file has a malformed ssh-ed25519 key")
	}
	if !bytes.Equal(key, pub) {
		return fmt.Errorf("the SSH host key's .pub file (%s) does not match the private key (%s); "+
			"regenerate it with `ssh-keygen -y -f KEY > KEY.pub`", Fingerprint(key), Fingerprint(pub))
	}
	return nil
}

// Generate makes a new Ed25519 host key: the private key file in
// OpenSSH format, the .pub line, and the fingerprint to log and print.
func Generate(comment string) (privPEM, pubLine []byte, fp string, err error) {
	for _, c := range comment {
		if c < ' ' || c == 0x7f {
			return nil, nil, "", errors.New("SSH host key comment has a control character; want one line of text")
		}
	}
	pub, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, nil, "", fmt.Errorf("generating the SSH host key: %w", err)
	}
	privPEM, err = marshalOpenSSHKey(key, comment)
	if err != nil {
		return nil, nil, "", err
	}
	return privPEM, AuthorizedKey(pub, comment), Fingerprint(pub), nil
}
