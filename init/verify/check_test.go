package verify

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"aead.dev/minisign"

	"github.com/homestaker/homestaker-boot/init/config"
)

// testTree is a kexec tree on disk: its files, their SHA256SUMS and the
// open files Check is given.
type testTree struct {
	dir   string
	sums  []byte
	files map[string]*os.File
}

var treeFiles = map[string]string{
	"kexec-boot": "#!/usr/bin/env bash\nkexec --load ${SCRIPT_DIR}/bzImage --initrd=${SCRIPT_DIR}/initrd.zst --command-line \"init=/nix/store/x/init\"\n",
	"bzImage":    "a kernel",
	"initrd.zst": strings.Repeat("an initrd ", 300000), // a few MiB: more than one hash buffer
}

func newTree(t *testing.T) *testTree {
	t.Helper()
	tr := &testTree{dir: t.TempDir(), files: map[string]*os.File{}}
	s := Sums{}
	for name, content := range treeFiles {
		p := filepath.Join(tr.dir, name)
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		s[name] = sha256.Sum256([]byte(content))
	}
	tr.sums = FormatSums(s)
	tr.open(t)
	return tr
}

// open (re)opens the tree's files, as the init does once before checking.
func (tr *testTree) open(t *testing.T) {
	t.Helper()
	for name := range treeFiles {
		f, err := os.Open(filepath.Join(tr.dir, name))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { f.Close() })
		tr.files[name] = f
	}
}

// tamper changes one byte in the middle of a file of the tree, in place.
func (tr *testTree) tamper(t *testing.T, name string) {
	t.Helper()
	f, err := os.OpenFile(filepath.Join(tr.dir, name), os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	st, _ := f.Stat()
	b := []byte{0}
	f.ReadAt(b, st.Size()/2)
	b[0] ^= 1
	if _, err := f.WriteAt(b, st.Size()/2); err != nil {
		t.Fatal(err)
	}
}

type signer struct {
	trusted TrustedKey
	priv    minisign.PrivateKey
}

func newSigner(t testing.TB) signer {
	t.Helper()
	pub, priv, err := minisign.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	return signer{TrustedKey{ID: KeyID(pub.ID()), File: "test.pub", Key: pub}, priv}
}

// sign signs as minisign 0.11 does by default: prehashed (HashEdDSA).
func (s signer) sign(msg []byte) []byte {
	r := minisign.NewReader(bytes.NewReader(msg))
	io.Copy(io.Discard, r)
	return r.SignWithComments(s.priv, "timestamp:0\tfile:SHA256SUMS\thashed", "signature from test key")
}

// signLegacy signs the message itself (EdDSA), as minisign -l does.
func (s signer) signLegacy(msg []byte) []byte { return minisign.Sign(s.priv, msg) }

func TestCheck(t *testing.T) {
	good, other := newSigner(t), newSigner(t)
	keys := []TrustedKey{good.trusted}
	type want struct {
		mode, signer, warning string
		refusal               *Refusal // nil: accepted
		hashed                bool     // Result.Files holds every file
	}
	accepted := func(mode, signer string) want { return want{mode: mode, signer: signer, hashed: true} }
	for _, tc := range []struct {
		name    string
		mode    config.VerifyMode
		keys    []TrustedKey
		prepare func(t *testing.T, tr *testTree) (sums, sig []byte)
		want    want
	}{
		{"auto, no key, sums: checksum", config.VerifyAuto, nil,
			func(t *testing.T, tr *testTree) ([]byte, []byte) { return tr.sums, nil },
			accepted("checksum", "")},
		{"auto, key, signed: signature", config.VerifyAuto, keys,
			func(t *testing.T, tr *testTree) ([]byte, []byte) { return tr.sums, good.sign(tr.sums) },
			accepted("signature", good.trusted.ID)},
		{"signature, legacy (non-prehashed) signature", config.VerifySignature, keys,
			func(t *testing.T, tr *testTree) ([]byte, []byte) { return tr.sums, good.signLegacy(tr.sums) },
			accepted("signature", good.trusted.ID)},
		{"signature, second of two trusted keys", config.VerifySignature, []TrustedKey{other.trusted, good.trusted},
			func(t *testing.T, tr *testTree) ([]byte, []byte) { return tr.sums, good.sign(tr.sums) },
			accepted("signature", good.trusted.ID)},
		{"auto, key, no signature", config.VerifyAuto, keys,
			func(t *testing.T, tr *testTree) ([]byte, []byte) { return tr.sums, nil },
			want{mode: "signature", refusal: &Refusal{File: SigFile, Msg: "missing (homestaker.verify=auto and a trusted key is built in)"}}},
		{"signature, no signature", config.VerifySignature, keys,
			func(t *testing.T, tr *testTree) ([]byte, []byte) { return tr.sums, nil },
			want{mode: "signature", refusal: &Refusal{File: SigFile, Msg: "missing (homestaker.verify=signature)"}}},
		{"signature, no sums", config.VerifySignature, keys,
			func(t *testing.T, tr *testTree) ([]byte, []byte) { return nil, nil },
			want{mode: "signature", refusal: &Refusal{File: SumsFile, Msg: "missing (homestaker.verify=signature)"}}},
		{"signature, no trusted key", config.VerifySignature, nil,
			func(t *testing.T, tr *testTree) ([]byte, []byte) { return tr.sums, good.sign(tr.sums) },
			want{mode: "signature", refusal: &Refusal{File: SigFile, Msg: "cannot be checked: no trusted key in /etc/homestaker/trusted.d (homestaker.verify=signature)"}}},
		{"signature, unknown signer", config.VerifySignature, keys,
			func(t *testing.T, tr *testTree) ([]byte, []byte) { return tr.sums, other.sign(tr.sums) },
			want{mode: "signature", refusal: &Refusal{File: SigFile, KeyID: other.trusted.ID,
				Msg: "signed by unknown key " + other.trusted.ID + ", trusted: " + good.trusted.ID}}},
		{"signature, sums changed after signing", config.VerifySignature, keys,
			func(t *testing.T, tr *testTree) ([]byte, []byte) {
				sig := good.sign(tr.sums)
				return append(tr.sums, []byte(hexOf("x")+"  extra\n")...), sig
			},
			want{mode: "signature", refusal: &Refusal{File: SigFile, KeyID: good.trusted.ID,
				Msg: "does not verify with trusted key " + good.trusted.ID + ": SHA256SUMS was changed after signing, or the signature is damaged"}}},
		{"signature, trusted comment changed", config.VerifySignature, keys,
			func(t *testing.T, tr *testTree) ([]byte, []byte) {
				return tr.sums, bytes.Replace(good.sign(tr.sums), []byte("timestamp:0"), []byte("timestamp:1"), 1)
			},
			want{mode: "signature", refusal: &Refusal{File: SigFile, KeyID: good.trusted.ID,
				Msg: "does not verify with trusted key " + good.trusted.ID + ": SHA256SUMS was changed after signing, or the signature is damaged"}}},
		{"signature, garbage signature", config.VerifySignature, keys,
			func(t *testing.T, tr *testTree) ([]byte, []byte) { return tr.sums, []byte("not a signature\n") },
			want{mode: "signature", refusal: &Refusal{File: SigFile, Msg: "not a minisign signature (minisign: invalid signature)"}}},
		{"signature, tampered initrd", config.VerifySignature, keys,
			func(t *testing.T, tr *testTree) ([]byte, []byte) {
				tr.tamper(t, "initrd.zst")
				return tr.sums, good.sign(tr.sums)
			},
			want{mode: "signature", signer: good.trusted.ID, refusal: &Refusal{File: "initrd.zst", Msg: "sha256 mismatch"}}},
		{"signature, file not listed", config.VerifySignature, keys,
			func(t *testing.T, tr *testTree) ([]byte, []byte) {
				sums := dropLine(tr.sums, "kexec-boot")
				return sums, good.sign(sums)
			},
			want{mode: "signature", signer: good.trusted.ID, refusal: &Refusal{File: "kexec-boot", Msg: "not listed in SHA256SUMS"}}},
		{"checksum, tampered kernel", config.VerifyChecksum, nil,
			func(t *testing.T, tr *testTree) ([]byte, []byte) { tr.tamper(t, "bzImage"); return tr.sums, nil },
			want{mode: "checksum", refusal: &Refusal{File: "bzImage", Msg: "sha256 mismatch"}}},
		{"checksum, file not listed", config.VerifyChecksum, nil,
			func(t *testing.T, tr *testTree) ([]byte, []byte) { return dropLine(tr.sums, "initrd.zst"), nil },
			want{mode: "checksum", refusal: &Refusal{File: "initrd.zst", Msg: "not listed in SHA256SUMS"}}},
		{"checksum, bad SHA256SUMS", config.VerifyChecksum, nil,
			func(t *testing.T, tr *testTree) ([]byte, []byte) { return append(tr.sums, "oops\n"...), nil },
			want{mode: "checksum", refusal: &Refusal{File: SumsFile, Msg: "line 4: \"oops\": expected a sha256sum line, 64 hex digits, two spaces (or a space and *) and a file name"}}},
		{"checksum, no sums: warning", config.VerifyChecksum, nil,
			func(t *testing.T, tr *testTree) ([]byte, []byte) { return nil, nil },
			want{mode: "checksum", warning: WarnNoSums}},
		{"auto, no key, no sums: warning", config.VerifyAuto, nil,
			func(t *testing.T, tr *testTree) ([]byte, []byte) { return nil, nil },
			want{mode: "checksum", warning: WarnNoSums}},
		{"checksum ignores a signature by an unknown key", config.VerifyChecksum, keys,
			func(t *testing.T, tr *testTree) ([]byte, []byte) { return tr.sums, other.sign(tr.sums) },
			accepted("checksum", "")},
		{"off, tampered: nothing checked", config.VerifyOff, keys,
			func(t *testing.T, tr *testTree) ([]byte, []byte) { tr.tamper(t, "initrd.zst"); return nil, nil },
			want{mode: "off", warning: WarnOff}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tr := newTree(t)
			sums, sig := tc.prepare(t, tr)
			res, err := Check(tc.mode, tc.keys, sums, sig, tr.files)
			if res.Mode != tc.want.mode || res.Signer != tc.want.signer || res.Warning != tc.want.warning {
				t.Errorf("Result = %+v; want mode %q, signer %q, warning %q", res, tc.want.mode, tc.want.signer, tc.want.warning)
			}
			if tc.want.refusal == nil {
				if err != nil {
					t.Fatalf("Check: %v", err)
				}
			} else {
				var r *Refusal
				if !errors.As(err, &r) {
					t.Fatalf("Check = %v; want refusal %v", err, tc.want.refusal)
				}
				if *r != *tc.want.refusal {
					t.Errorf("refusal %+v\nwant    %+v", *r, *tc.want.refusal)
				}
				if res.Files != nil {
					t.Errorf("Result.Files = %v with a refusal; want none", res.Files)
				}
				return
			}
			if !tc.want.hashed {
				if res.Files != nil {
					t.Errorf("Result.Files = %v; want nothing hashed", res.Files)
				}
				return
			}
			for name, content := range treeFiles {
				d := sha256.Sum256([]byte(content))
				if res.Files[name] != hex.EncodeToString(d[:]) {
					t.Errorf("Result.Files[%s] = %q, want %x", name, res.Files[name], d)
				}
			}
			if len(res.Files) != len(treeFiles) {
				t.Errorf("Result.Files = %v; want the %d files of the tree", res.Files, len(treeFiles))
			}
		})
	}
}

func dropLine(sums []byte, name string) []byte {
	var out []byte
	for _, l := range bytes.SplitAfter(sums, []byte("\n")) {
		if !bytes.HasSuffix(bytes.TrimSuffix(l, []byte("\n")), []byte("  "+name)) {
			out = append(out, l...)
		}
	}
	return out
}

func TestRefusalError(t *testing.T) {
	for _, tc := range []struct {
		r    Refusal
		want string
	}{
		{Refusal{File: "initrd.zst", Msg: "sha256 mismatch"}, "initrd.zst: sha256 mismatch"},
		{Refusal{File: SigFile, KeyID: "1A2B3C4D5E6F7081", Msg: "signed by unknown key 1A2B3C4D5E6F7081, trusted: 3C4D5E6F70819203"},
			"SHA256SUMS.minisig: signed by unknown key 1A2B3C4D5E6F7081, trusted: 3C4D5E6F70819203"},
		{Refusal{File: SumsFile, Msg: "missing (homestaker.verify=signature)"}, "SHA256SUMS: missing (homestaker.verify=signature)"},
		{Refusal{KeyID: "1A2B3C4D5E6F7081", Msg: "revoked"}, "key 1A2B3C4D5E6F7081: revoked"},
	} {
		if got := tc.r.Error(); got != tc.want {
			t.Errorf("Error() = %q, want %q", got, tc.want)
		}
	}
}

// TestCheckHashesTheOpenFiles: what is checked is what the caller loads.
// Replacing a file's path after it was opened changes nothing for Check,
// and the files' offsets are left where they were.
func TestCheckHashesTheOpenFiles(t *testing.T) {
	tr := newTree(t)
	evil := filepath.Join(tr.dir, "evil")
	if err := os.WriteFile(evil, []byte("another initrd"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(evil, filepath.Join(tr.dir, "initrd.zst")); err != nil {
		t.Fatal(err)
	}
	if _, err := Check(config.VerifyChecksum, nil, tr.sums, nil, tr.files); err != nil {
		t.Fatalf("Check of the files opened before the swap: %v", err)
	}
	for name, f := range tr.files {
		if off, _ := f.Seek(0, io.SeekCurrent); off != 0 {
			t.Errorf("%s: offset %d after Check, want 0", name, off)
		}
	}
	// Opened again, the swapped file is what the init would load: refused.
	tr.open(t)
	_, err := Check(config.VerifyChecksum, nil, tr.sums, nil, tr.files)
	if err == nil || err.Error() != "initrd.zst: sha256 mismatch" {
		t.Errorf("Check after reopening = %v; want initrd.zst: sha256 mismatch", err)
	}
}

func TestCheckNilFile(t *testing.T) {
	tr := newTree(t)
	tr.files["bzImage"] = nil
	_, err := Check(config.VerifyChecksum, nil, tr.sums, nil, tr.files)
	var r *Refusal
	if err == nil || errors.As(err, &r) {
		t.Errorf("Check with a nil file = %v; want an error that is not a refusal", err)
	}
}
