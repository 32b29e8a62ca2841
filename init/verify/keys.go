package verify

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"aead.dev/minisign"
)

// TrustedDir is where the initramfs keeps the minisign public keys a
// signed tree may be signed with, one key per file, so that an appended
// cpio archive can add one.
const TrustedDir = "/etc/homestaker/trusted.d"

// TrustedKey is one minisign public key file from TrustedDir.
type TrustedKey struct {
	ID   string // as minisign prints it: 16 uppercase hex digits
	File string
	Key  minisign.PublicKey
}

// KeyID formats a minisign key id as minisign prints it.
func KeyID(id uint64) string { return fmt.Sprintf("%016X", id) }

// maxKeyFile bounds what is read of a file that should hold two short
// lines, so that a stray large file does not eat the init's memory.
const maxKeyFile = 4096

// LoadTrustedKeys reads every file in dir as a minisign public key (the
// "untrusted comment:" line and the base64 key line minisign -G writes).
// A missing dir means no keys. A file that is not a key is returned as an
// error naming it; the other files still load.
func LoadTrustedKeys(dir string) ([]TrustedKey, []error) {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, []error{fmt.Errorf("trusted keys: %v", err)}
	}
	var (
		keys []TrustedKey
		errs []error
	)
	for _, e := range entries {
		file := filepath.Join(dir, e.Name())
		k, err := loadKey(file)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		keys = append(keys, k)
	}
	return keys, errs
}

// LoadTrustedKey reads one minisign public key file.
func LoadTrustedKey(file string) (TrustedKey, error) { return loadKey(file) }

func loadKey(file string) (TrustedKey, error) {
	f, err := os.Open(file)
	if err != nil {
		return TrustedKey{}, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return TrustedKey{}, err
	}
	switch {
	case !st.Mode().IsRegular():
		return TrustedKey{}, fmt.Errorf("%s: a %s, not a minisign public key file", file, st.Mode().Type())
	case st.Size() > maxKeyFile:
		return TrustedKey{}, fmt.Errorf("%s: %d bytes, too large for a minisign public key file", file, st.Size())
	}
	b := make([]byte, st.Size())
	if _, err := f.ReadAt(b, 0); err != nil {
		return TrustedKey{}, fmt.Errorf("%s: %v", file, err)
	}
	var k minisign.PublicKey
	if err := k.UnmarshalText(b); err != nil {
		return TrustedKey{}, fmt.Errorf("%s: not a minisign public key (%v); expected the two lines minisign -G writes to minisign.pub", file, err)
	}
	return TrustedKey{ID: KeyID(k.ID()), File: file, Key: k}, nil
}
