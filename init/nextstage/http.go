package nextstage

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/homestaker/homestaker-boot/init/config"
	"github.com/homestaker/homestaker-boot/init/fetch"
	"github.com/homestaker/homestaker-boot/init/kexectree"
	"github.com/homestaker/homestaker-boot/init/verify"
)

// scriptLimit bounds what is read into memory for a script or checksum.
const scriptLimit = 1 << 20

// A source that does not answer at all within reachTimeout (unless
// Env.ReachTimeout says otherwise), or whose download makes no progress
// for stallTimeout, is given up so that the next source is tried: the
// boot must never wait without end.
const (
	reachTimeout = 30 * time.Second
	stallTimeout = 60 * time.Second
)

// loadHTTP fetches a tree from a directory URL: the small files into
// memory, the kernel and initrd once into tmpfs, then verifies them like a
// local tree.
func loadHTTP(ctx context.Context, src config.Source, env Env) (l *Loaded, err error) {
	if env.HTTP == nil {
		return nil, fmt.Errorf("no HTTP client (is the network up?)")
	}
	base, err := url.Parse(src.URL)
	if err != nil {
		return nil, fmt.Errorf("bad URL %s: %v", src, err)
	}
	if !strings.HasSuffix(base.Path, "/") {
		base.Path += "/"
	}
	// at is the URL of a file of the tree: its query is the directory's (a
	// token the server asks for); shown is what messages say of it.
	at := func(name string) string {
		u := *base
		u.Path += name
		u.RawPath = ""
		return u.String()
	}
	shown := func(name string) string { return fetch.Redact(at(name)) }
	ch, client, err := channelOf(ctx, base.String(), env)
	if err != nil {
		return nil, err
	}
	env.HTTP = client
	reach := env.ReachTimeout
	if reach == 0 {
		reach = reachTimeout
	}
	get := func(name string) ([]byte, error) {
		sctx, cancel := context.WithTimeout(ctx, reach)
		defer cancel()
		b, err := fetch.Small(sctx, env.HTTP, at(name), scriptLimit)
		if err != nil && sctx.Err() != nil && ctx.Err() == nil {
			return nil, fmt.Errorf("%s did not answer within %s: %v", shown(name), reach, err)
		}
		return b, err
	}
	optional := func(name string) ([]byte, error) {
		b, err := get(name)
		if errors.Is(err, fs.ErrNotExist) {
			return nil, nil
		}
		return b, err
	}

	scripts := map[string][]byte{}
	var tree kexectree.Tree
	if b, err := get("kexec-boot"); err == nil {
		scripts["kexec-boot"] = b
		if tree, err = kexectree.ParseKexecBoot(shown("kexec-boot"), b); err != nil {
			return nil, err
		}
	} else if errors.Is(err, fs.ErrNotExist) {
		b, err := get("netboot.ipxe")
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("no kexec-boot or netboot.ipxe at %s", shown(""))
		}
		if err != nil {
			return nil, err
		}
		scripts["netboot.ipxe"] = b
		vars, err := optional("variables.ipxe")
		if err != nil {
			return nil, err
		}
		if vars != nil {
			scripts["variables.ipxe"] = vars
		}
		if tree, err = kexectree.ParseIPXE(shown("netboot.ipxe"), b, vars); err != nil {
			return nil, err
		}
	} else {
		return nil, err
	}
	if err := tree.CheckNames(scriptNames(scripts), []string{verify.SumsFile, verify.SigFile}); err != nil {
		return nil, err
	}
	sums, err := optional(verify.SumsFile)
	if err != nil {
		return nil, err
	}
	sig, err := optional(verify.SigFile)
	if err != nil {
		return nil, err
	}
	mode, err := ch.mode(env, sums, sig)
	if err != nil {
		return nil, err
	}

	dir, err := os.MkdirTemp(env.TmpDir, "next-")
	if err != nil {
		return nil, err
	}
	l = &Loaded{Source: src, Dir: shown(""), Tree: tree}
	defer func() {
		if err != nil {
			l.Close()
			os.RemoveAll(dir)
		}
	}()
	files := map[string]*os.File{}
	defer closeScripts(files, tree)
	// Every file goes to a name chosen here, once, so that no download
	// can overwrite another: the scripts are hashed from the bytes that
	// were parsed, and the kernel and initrd are the bytes fetched for
	// their role.
	for name, b := range scripts {
		p := filepath.Join(dir, "script."+name)
		f, err := createExclusive(p, b)
		l.temp = append(l.temp, p)
		if err != nil {
			return l, err
		}
		files[name] = f
	}
	download := func(name, role string) (*os.File, error) {
		p := filepath.Join(dir, role)
		l.temp = append(l.temp, p)
		// Retries go on while bytes arrive; stallTimeout without any
		// gives the source up.
		fctx, cancel := context.WithCancel(ctx)
		defer cancel()
		stalled := time.AfterFunc(stallTimeout, cancel)
		defer stalled.Stop()
		var done int64
		progress := func(pr fetch.Progress) {
			if pr.Done > done {
				done = pr.Done
				stalled.Reset(stallTimeout)
			}
			if env.Progress != nil {
				env.Progress(pr)
			}
		}
		if _, err := fetch.File(fctx, env.HTTP, at(name), p, progress); err != nil {
			if fctx.Err() != nil && ctx.Err() == nil {
				return nil, fmt.Errorf("%s: no progress for %s: %v", shown(name), stallTimeout, err)
			}
			return nil, err
		}
		return os.Open(p)
	}
	if l.Kernel, err = download(tree.Kernel, "kernel"); err != nil {
		return l, err
	}
	files[tree.Kernel] = l.Kernel
	if tree.Initrd != "" {
		if l.Initrd, err = download(tree.Initrd, "initrd"); err != nil {
			return l, err
		}
		files[tree.Initrd] = l.Initrd
	}
	l.temp = append(l.temp, dir)
	if l.Verified, err = verify.Check(mode, env.Keys, sums, sig, files); err != nil {
		return l, err
	}
	if l.Identity, err = verify.TreeIdentity(sums, files); err != nil {
		return l, err
	}
	l.Verified.Channel = ch.name
	if ch.warning != "" {
		l.Verified.Warning = strings.TrimPrefix(l.Verified.Warning+"; "+ch.warning, "; ")
	}
	return l, kexectree.CheckKernel(shown(tree.Kernel), l.Kernel)
}

// createExclusive writes b to a new file at p and opens it for reading.
func createExclusive(p string, b []byte) (*os.File, error) {
	f, err := os.OpenFile(p, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, err
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		return nil, err
	}
	if _, err := f.Seek(0, 0); err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

func scriptNames(scripts map[string][]byte) []string {
	var n []string
	for name := range scripts {
		n = append(n, name)
	}
	return n
}
