package main

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/homestaker/homestaker-boot/init/kexectree"
	"github.com/homestaker/homestaker-boot/init/verify"
	"github.com/homestaker/homestaker-boot/init/volfile"
)

// treeSource is where install-next reads a kexec tree from: a directory or
// the URL of one. Names are relative to the tree, as kexectree gives them.
type treeSource interface {
	// where names a file of the tree in messages and parser errors.
	where(name string) string
	// open opens a file of the tree for reading; an error wrapping
	// fs.ErrNotExist when it is not there. size is -1 when unknown.
	open(name string) (r io.ReadCloser, size int64, err error)
	close()
}

// maxScript bounds what is read of the small files of a tree (kexec-boot,
// netboot.ipxe, variables.ipxe, SHA256SUMS): they are parsed in memory.
const maxScript = 1 << 20

// readSmall reads a small file of the tree whole.
func readSmall(src treeSource, name string) ([]byte, error) {
	r, _, err := src.open(name)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	b, err := io.ReadAll(io.LimitReader(r, maxScript+1))
	if err != nil {
		return nil, fmt.Errorf("reading %s: %v", src.where(name), err)
	}
	if len(b) > maxScript {
		return nil, fmt.Errorf("%s is larger than %d bytes; expected a short script", src.where(name), maxScript)
	}
	return b, nil
}

// dirSource is a tree in a local directory. Files are opened through
// os.Root, so a symlink may point within the tree but never out of it.
type dirSource struct {
	dir  string
	root *os.Root
}

func openDirSource(dir string) (*dirSource, error) {
	st, err := os.Stat(dir)
	if err != nil {
		return nil, err
	}
	if !st.IsDir() {
		return nil, fmt.Errorf("%s is not a directory; SRC is the directory holding kexec-boot (or netboot.ipxe), the kernel and the initrd", dir)
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, err
	}
	return &dirSource{dir: dir, root: root}, nil
}

func (s *dirSource) where(name string) string { return filepath.Join(s.dir, name) }
func (s *dirSource) close()                   { s.root.Close() }

func (s *dirSource) open(name string) (io.ReadCloser, int64, error) {
	f, err := s.root.Open(name)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, 0, fmt.Errorf("%s: %w", s.where(name), fs.ErrNotExist)
		}
		if st, lerr := os.Lstat(s.where(name)); lerr == nil && st.Mode()&fs.ModeSymlink != 0 {
			target, _ := os.Readlink(s.where(name))
			return nil, 0, fmt.Errorf("%s is a symlink to %s, outside the tree: every file of a kexec tree must be inside it", s.where(name), target)
		}
		return nil, 0, fmt.Errorf("%s: %v", s.where(name), err)
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, 0, err
	}
	if !st.Mode().IsRegular() {
		f.Close()
		return nil, 0, fmt.Errorf("%s is %s, not a regular file", s.where(name), volfile.Kind(st.Mode()))
	}
	return f, st.Size(), nil
}

// httpSource is a tree served over HTTP(S): base is its directory.
type httpSource struct {
	base   *url.URL
	client *http.Client
}

func newHTTPSource(raw string) (*httpSource, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, err
	}
	if u.Host == "" {
		return nil, fmt.Errorf("%s has no host", raw)
	}
	if !strings.HasSuffix(u.Path, "/") {
		u.Path += "/"
		u.RawPath = ""
	}
	t := http.DefaultTransport.(*http.Transport).Clone()
	// No overall timeout: a multi-GB initrd takes what it takes. A server
	// that never answers is given up on.
	t.ResponseHeaderTimeout = time.Minute
	return &httpSource{base: u, client: &http.Client{Transport: t}}, nil
}

func (s *httpSource) url(name string) string {
	return s.base.ResolveReference(&url.URL{Path: name}).String()
}

func (s *httpSource) where(name string) string { return s.url(name) }
func (s *httpSource) close()                   { s.client.CloseIdleConnections() }

func (s *httpSource) open(name string) (io.ReadCloser, int64, error) {
	u := s.url(name)
	resp, err := s.client.Get(u)
	if err != nil {
		return nil, 0, err
	}
	switch {
	case resp.StatusCode == http.StatusNotFound:
		resp.Body.Close()
		return nil, 0, fmt.Errorf("%s: %s: %w", u, resp.Status, fs.ErrNotExist)
	case resp.StatusCode != http.StatusOK:
		resp.Body.Close()
		return nil, 0, fmt.Errorf("GET %s: %s", u, resp.Status)
	}
	return resp.Body, resp.ContentLength, nil
}

// sourceTree is what install-next found in SRC, before copying anything.
type sourceTree struct {
	tree    kexectree.Tree
	scripts map[string][]byte // kexec-boot, or netboot.ipxe (+ variables.ipxe): installed as parsed
	images  []string          // the kernel, then the initrd when there is one
	sums    []byte            // SRC's own SHA256SUMS; nil when it has none
}

// names is every file the tree uses, in the order they are installed.
func (t *sourceTree) names() []string {
	var n []string
	for _, s := range []string{"kexec-boot", "netboot.ipxe", "variables.ipxe"} {
		if _, ok := t.scripts[s]; ok {
			n = append(n, s)
		}
	}
	return append(n, t.images...)
}

// readSourceTree parses the tree as the init does: kexec-boot, or
// netboot.ipxe when there is no kexec-boot. The scripts are read once and
// installed from what was parsed, so what is checked is what is copied.
func readSourceTree(src treeSource) (*sourceTree, error) {
	st := &sourceTree{scripts: map[string][]byte{}}
	b, err := readSmall(src, "kexec-boot")
	switch {
	case err == nil:
		if st.tree, err = kexectree.ParseKexecBoot(src.where("kexec-boot"), b); err != nil {
			return nil, err
		}
		st.scripts["kexec-boot"] = b
	case errors.Is(err, fs.ErrNotExist):
		if st.tree, err = readIPXE(src, st.scripts); err != nil {
			return nil, err
		}
	default:
		return nil, err
	}

	st.images = []string{st.tree.Kernel}
	if st.tree.Initrd != "" {
		st.images = append(st.images, st.tree.Initrd)
	}
	var scripts []string
	for s := range st.scripts {
		scripts = append(scripts, s)
	}
	if err := st.tree.CheckNames(scripts, []string{verify.SumsFile, verify.SigFile}); err != nil {
		return nil, err
	}
	for i, name := range st.images {
		if strings.ContainsAny(name, "\\\n\r") {
			return nil, fmt.Errorf("%s names %q as its %s; a backslash or line break cannot be listed in SHA256SUMS", st.tree.From, name, []string{"kernel", "initrd"}[i])
		}
	}

	st.sums, err = readSmall(src, verify.SumsFile)
	if errors.Is(err, fs.ErrNotExist) {
		st.sums, err = nil, nil
	}
	return st, err
}

// readIPXE parses netboot.ipxe with its variables.ipxe. variables.ipxe is
// part of the tree only when netboot.ipxe chains it: parsed without it,
// such a script fails.
func readIPXE(src treeSource, scripts map[string][]byte) (kexectree.Tree, error) {
	script, err := readSmall(src, "netboot.ipxe")
	if errors.Is(err, fs.ErrNotExist) {
		return kexectree.Tree{}, fmt.Errorf("no kexec-boot or netboot.ipxe in %s; SRC is the directory of a HomestakerOS kexec tree", strings.TrimSuffix(src.where(""), "/"))
	}
	if err != nil {
		return kexectree.Tree{}, err
	}
	vars, err := readSmall(src, "variables.ipxe")
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return kexectree.Tree{}, err
	}
	tree, err := kexectree.ParseIPXE(src.where("netboot.ipxe"), script, vars)
	if err != nil {
		return kexectree.Tree{}, err
	}
	scripts["netboot.ipxe"] = script
	if vars != nil {
		if _, err := kexectree.ParseIPXE(src.where("netboot.ipxe"), script, nil); err != nil {
			scripts["variables.ipxe"] = vars
		}
	}
	return tree, nil
}
