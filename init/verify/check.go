package verify

import (
	"encoding/hex"
	"fmt"
	"os"
	"path"
	"sort"
	"strings"

	"aead.dev/minisign"

	"github.com/homestaker/homestaker-boot/init/config"
)

// Refusal is why a tree is refused. It names the file or the key id it is
// about, as found; it never guesses.
type Refusal struct {
	File  string // "initrd.zst", "SHA256SUMS", "SHA256SUMS.minisig"
	KeyID string // the signer's key id, when the refusal is about a key
	Msg   string
}

func (r *Refusal) Error() string {
	switch {
	case r.File != "":
		return r.File + ": " + r.Msg
	case r.KeyID != "":
		return "key " + r.KeyID + ": " + r.Msg
	}
	return r.Msg
}

// Result says what was checked, for the report and the console. With a
// refusal it still says which policy applied and, when the signature
// checked out, who signed; Files is then empty.
type Result struct {
	Mode    string            // signature, checksum or off: the policy applied
	Signer  string            // key id of the trusted key that signed SHA256SUMS
	Files   map[string]string // name -> hex sha256, for each file checked
	Warning string            // set when the tree boots unverified
	// Channel is how the bytes came, for a checksum's worth: "on the
	// volume", "in the initramfs", "over https", "over the tunnel", "over
	// plain http outside the tunnel".
	Channel string `json:",omitempty"`
}

// Established says what the verification established, for the console:
// "signature by key ID", "checksum over the tunnel", ..., never a bare
// "checksum" that hides how the bytes came.
func (r Result) Established() string {
	switch {
	case r.Signer != "":
		return "signature by key " + r.Signer
	case r.Mode == "checksum" && r.Warning == WarnNoSums:
		return "nothing, no " + SumsFile + " " + r.Channel
	case r.Mode == "checksum":
		return strings.TrimSpace("checksum " + r.Channel)
	}
	return r.Mode
}

// Warnings set in Result.
const (
	WarnNoSums = "no " + SumsFile + ": the tree is not verified (homestaker.verify=checksum); install it with `homestaker install-next` to get one"
	WarnOff    = "verification off (homestaker.verify=off): the tree is not checked"
)

// Check verifies the files a tree uses against sums (the content of
// SHA256SUMS) and sig (of SHA256SUMS.minisig), each nil when absent.
// files maps each name the tree uses (its kexec-boot or netboot.ipxe and
// variables.ipxe, the kernel, the initrd) to the open file the caller
// hands to the kernel: those very files are hashed, never reopened or
// copied, so what is checked is what is loaded.
//
// The policy is homestaker.verify's. VerifyAuto is signature when keys
// holds a key, else checksum. Under signature, SHA256SUMS and its
// signature by one of keys are required. Under checksum, SHA256SUMS is
// checked when present, and its absence is a warning, not a refusal. In
// both, every file must be listed and match. Off checks nothing.
//
// A reason to refuse the tree is a *Refusal; any other error is a failure
// to read a file.
func Check(mode config.VerifyMode, keys []TrustedKey, sums, sig []byte, files map[string]*os.File) (Result, error) {
	why := "homestaker.verify=" + mode.String()
	if mode == config.VerifyAuto {
		if len(keys) > 0 {
			mode = config.VerifySignature
			why = "homestaker.verify=auto and a trusted key is built in"
		} else {
			mode = config.VerifyChecksum
		}
	}
	switch mode {
	case config.VerifyOff:
		return Result{Mode: "off", Warning: WarnOff}, nil
	case config.VerifyChecksum:
		if sums == nil {
			return Result{Mode: "checksum", Warning: WarnNoSums}, nil
		}
		res := Result{Mode: "checksum"}
		return checkFiles(res, sums, files)
	case config.VerifySignature:
		res := Result{Mode: "signature"}
		signer, err := checkSignature(keys, sums, sig, why)
		if err != nil {
			return res, err
		}
		res.Signer = signer
		return checkFiles(res, sums, files)
	}
	return Result{}, fmt.Errorf("unknown verification mode %v", mode)
}

// CheckSignature checks that sig is a minisign signature of sums by one of
// keys and returns that key's id: what install-next asks of a tree it is
// to sign again.
func CheckSignature(keys []TrustedKey, sums, sig []byte, why string) (string, error) {
	return checkSignature(keys, sums, sig, why)
}

// checkSignature checks that sig is a minisign signature of sums by one of
// keys and returns that key's id.
func checkSignature(keys []TrustedKey, sums, sig []byte, why string) (string, error) {
	switch {
	case sums == nil:
		return "", &Refusal{File: SumsFile, Msg: "missing (" + why + ")"}
	case sig == nil:
		return "", &Refusal{File: SigFile, Msg: "missing (" + why + ")"}
	case len(keys) == 0:
		return "", &Refusal{File: SigFile, Msg: "cannot be checked: no trusted key in " + TrustedDir + " (" + why + ")"}
	}
	var s minisign.Signature
	if err := s.UnmarshalText(sig); err != nil {
		return "", &Refusal{File: SigFile, Msg: fmt.Sprintf("not a minisign signature (%v)", err)}
	}
	id := KeyID(s.KeyID)
	var trusted []string
	found := false
	for _, k := range keys {
		trusted = append(trusted, k.ID)
		if k.Key.ID() != s.KeyID {
			continue
		}
		found = true
		if minisign.Verify(k.Key, sums, sig) {
			return id, nil
		}
	}
	if !found {
		return "", &Refusal{File: SigFile, KeyID: id, Msg: fmt.Sprintf("signed by unknown key %s, trusted: %s", id, strings.Join(trusted, ", "))}
	}
	return "", &Refusal{File: SigFile, KeyID: id,
		Msg: fmt.Sprintf("does not verify with trusted key %s: SHA256SUMS was changed after signing, or the signature is damaged", id)}
}

// checkFiles checks that every file is listed in sums and matches it.
// Every name is looked up before anything is hashed: a tree that cannot
// pass is refused without reading gigabytes first.
func checkFiles(res Result, sums []byte, files map[string]*os.File) (Result, error) {
	s, err := ParseSums(SumsFile, sums)
	if err != nil {
		if se, ok := err.(*SumsError); ok {
			return res, &Refusal{File: SumsFile, Msg: fmt.Sprintf("line %d: %s", se.Line, se.Msg)}
		}
		return res, &Refusal{File: SumsFile, Msg: err.Error()}
	}
	names := make([]string, 0, len(files))
	for n := range files {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		if _, ok := s[path.Clean(n)]; !ok {
			return res, &Refusal{File: n, Msg: "not listed in " + SumsFile}
		}
		if files[n] == nil {
			return res, fmt.Errorf("%s: no open file to check", n)
		}
	}
	digests := map[string]string{}
	for _, n := range names {
		got, _, err := HashFile(files[n])
		if err != nil {
			return res, fmt.Errorf("%s: reading to check its sha256: %v", n, err)
		}
		if got != s[path.Clean(n)] {
			return res, &Refusal{File: n, Msg: "sha256 mismatch"}
		}
		digests[n] = hex.EncodeToString(got[:])
	}
	res.Files = digests
	return res, nil
}
