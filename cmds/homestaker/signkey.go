package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"time"

	"aead.dev/minisign"
	"golang.org/x/term"

	"github.com/homestaker/homestaker-boot/init/verify"
)

// passwordEnv holds the password of an encrypted minisign secret key, for
// scripts; without it the password is asked on the terminal.
const passwordEnv = "HOMESTAKER_MINISIGN_PASSWORD"

// loadSecretKey reads a minisign secret key file as minisign -G writes it,
// encrypted (the password from passwordEnv or asked on the terminal tty)
// or not (-W).
func loadSecretKey(file, tty string) (minisign.PrivateKey, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return minisign.PrivateKey{}, err
	}
	notKey := func(err error) error {
		return fmt.Errorf("%s is not a minisign secret key (%v); --sign takes the secret key file minisign -G wrote (the .key, not the .pub)", file, err)
	}
	if !minisign.IsEncrypted(b) {
		var k minisign.PrivateKey
		if err := k.UnmarshalText(bytes.TrimSpace(b)); err != nil {
			return minisign.PrivateKey{}, notKey(err)
		}
		return k, nil
	}
	pw, err := keyPassword(file, tty)
	if err != nil {
		return minisign.PrivateKey{}, err
	}
	k, err := minisign.DecryptKey(pw, bytes.TrimSpace(b))
	if err != nil {
		return minisign.PrivateKey{}, fmt.Errorf("%s: wrong password, or the key file is damaged (%v)", file, err)
	}
	return k, nil
}

func keyPassword(file, ttyPath string) (string, error) {
	if pw, ok := os.LookupEnv(passwordEnv); ok {
		return pw, nil
	}
	tty, err := os.OpenFile(ttyPath, os.O_RDWR, 0)
	if err == nil && !term.IsTerminal(int(tty.Fd())) {
		tty.Close()
		err = errors.New("not a terminal")
	}
	if err != nil {
		return "", fmt.Errorf("%s is encrypted and there is no password: set %s, or run from a terminal to be asked (%s: %v)", file, passwordEnv, ttyPath, err)
	}
	defer tty.Close()
	fmt.Fprintf(tty, "password for %s: ", file)
	pw, err := term.ReadPassword(int(tty.Fd()))
	fmt.Fprintln(tty)
	if err != nil {
		return "", fmt.Errorf("reading the password for %s: %v", file, err)
	}
	return string(pw), nil
}

// signSums signs SHA256SUMS as minisign -S does by default: prehashed,
// with the timestamp and file name as the trusted comment.
func signSums(key minisign.PrivateKey, sums []byte) []byte {
	r := minisign.NewReader(bytes.NewReader(sums))
	io.Copy(io.Discard, r) // reading a bytes.Reader does not fail
	trusted := "timestamp:" + strconv.FormatInt(time.Now().Unix(), 10) + "\tfile:" + verify.SumsFile + "\thashed"
	return r.SignWithComments(key, trusted, "signature from homestaker install-next, key "+verify.KeyID(key.ID()))
}

// signerKey is the public half of key, as a trusted key of the init.
func signerKey(key minisign.PrivateKey) verify.TrustedKey {
	pub := key.Public().(minisign.PublicKey)
	return verify.TrustedKey{ID: verify.KeyID(pub.ID()), File: "(--sign)", Key: pub}
}
