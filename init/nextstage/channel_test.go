package nextstage

import (
	"context"
	"crypto/sha256"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"aead.dev/minisign"

	"github.com/homestaker/homestaker-boot/init/config"
	"github.com/homestaker/homestaker-boot/init/verify"
)

// server serves a kexec tree over HTTP and counts the requests per name.
type server struct {
	*httptest.Server
	mu    sync.Mutex
	files map[string]string
	hits  map[string]int
	// second, when set, is what the server answers from the second
	// request of a name on: a server that plays both roles.
	second map[string]string
}

func serveTree(t *testing.T, files map[string]string) *server {
	t.Helper()
	s := &server{files: files, hits: map[string]int{}}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		name := strings.TrimPrefix(r.URL.Path, "/tree/")
		s.mu.Lock()
		s.hits[name]++
		body, ok := s.files[name]
		if alt, has := s.second[name]; has && s.hits[name] > 1 {
			body = alt
		}
		s.mu.Unlock()
		if !ok {
			http.NotFound(w, r)
			return
		}
		fmt.Fprint(w, body)
	}))
	t.Cleanup(s.Close)
	return s
}

func sumsOf(files map[string]string) string {
	var b strings.Builder
	for _, name := range []string{"kexec-boot", "bzImage", "initrd.zst"} {
		if body, ok := files[name]; ok {
			fmt.Fprintf(&b, "%x  %s\n", sha256.Sum256([]byte(body)), name)
		}
	}
	return b.String()
}

func treeFiles(script string) map[string]string {
	f := map[string]string{"kexec-boot": script, "bzImage": fakeKernel, "initrd.zst": "initrd bytes"}
	f["SHA256SUMS"] = sumsOf(f)
	return f
}

func httpSource(u string) config.Source {
	return config.Source{Kind: config.SourceHTTP, URL: u, Raw: u}
}

// lo stands in for the tunnel's device: 127.0.0.1 is "routed through
// the tunnel" when the test says so.
func tunnelEnv(t *testing.T, through bool) Env {
	env := Env{Mode: config.VerifyChecksum, HTTP: &http.Client{Transport: http.DefaultTransport.(*http.Transport).Clone()}, TmpDir: t.TempDir()}
	if through {
		env.ThroughTunnel = func(a netip.Addr) bool { return a.IsLoopback() }
		env.TunnelDevice = "lo"
	}
	return env
}

// Item 1: a tree is assembled from each name once. A kexec-boot that names
// itself (or SHA256SUMS) as the initrd is refused, and a server that
// answers a name differently the second time never gets a second request.
func TestHTTPTreeFromEachNameOnce(t *testing.T) {
	t.Parallel()
	selfInitrd := strings.Replace(script, "${SCRIPT_DIR}/initrd.zst", "${SCRIPT_DIR}/kexec-boot", 1)
	sumsInitrd := strings.Replace(script, "${SCRIPT_DIR}/initrd.zst", "${SCRIPT_DIR}/SHA256SUMS", 1)
	for name, s := range map[string]string{"the script": selfInitrd, "SHA256SUMS": sumsInitrd} {
		srv := serveTree(t, treeFiles(s))
		_, err := Locate(context.Background(), []config.Source{httpSource(srv.URL + "/tree/")}, tunnelEnv(t, true), nil)
		if err == nil || !strings.Contains(err.Error(), "each file of a tree has one role") {
			t.Errorf("a kexec-boot naming %s as its initrd: %v", name, err)
		}
	}

	// The attack: the first kexec-boot carries the attacker's command
	// line, the second the signed one.
	files := treeFiles(script)
	evil := strings.Replace(selfInitrd, "boot.shell_on_fail", "init=/evil", 1)
	srv := serveTree(t, files)
	srv.files["kexec-boot"] = evil
	srv.second = map[string]string{"kexec-boot": script}
	_, err := Locate(context.Background(), []config.Source{httpSource(srv.URL + "/tree/")}, tunnelEnv(t, true), nil)
	if err == nil {
		t.Fatal("booted a tree whose script names itself as the initrd")
	}
	ok := serveTree(t, treeFiles(script))
	l, err := Locate(context.Background(), []config.Source{httpSource(ok.URL + "/tree/")}, tunnelEnv(t, true), nil)
	if err != nil {
		t.Fatal(err)
	}
	l.Close()
	for name, n := range ok.hits {
		if n != 1 {
			t.Errorf("%s was requested %d times, want once", name, n)
		}
	}
}

// Item 2: plain http outside the tunnel authenticates nothing; a tree
// from there boots only when signed by a trusted key. Through the tunnel
// the checksum is enough, and the console says which was established.
func TestPlainHTTPOutsideTheTunnelNeedsASignature(t *testing.T) {
	t.Parallel()
	files := treeFiles(script)
	srv := serveTree(t, files)
	src := []config.Source{httpSource(srv.URL + "/tree/")}

	_, err := Locate(context.Background(), src, tunnelEnv(t, false), nil)
	for _, want := range []string{"plain http outside the WireGuard tunnel", "install-next --sign", "https", "inside the WireGuard tunnel"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("an unsigned tree over plain http: %v; want it refused naming %q", err, want)
		}
	}
	if srv.hits["bzImage"] != 0 {
		t.Errorf("the kernel was downloaded for a tree that cannot boot")
	}

	l, err := Locate(context.Background(), src, tunnelEnv(t, true), nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := l.Verified.Established(); got != "checksum over the tunnel" {
		t.Errorf("verified: %q, want checksum over the tunnel", got)
	}
	l.Close()

	// Signed: boots from outside the tunnel.
	pub, priv, err := minisign.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	signed := treeFiles(script)
	signed["SHA256SUMS.minisig"] = string(minisign.Sign(priv, []byte(signed["SHA256SUMS"])))
	ssrv := serveTree(t, signed)
	env := tunnelEnv(t, false)
	env.Keys = []verify.TrustedKey{{ID: verify.KeyID(pub.ID()), Key: pub}}
	l, err = Locate(context.Background(), []config.Source{httpSource(ssrv.URL + "/tree/")}, env, nil)
	if err != nil {
		t.Fatalf("a signed tree over plain http: %v", err)
	}
	if got, want := l.Verified.Established(), "signature by key "+verify.KeyID(pub.ID()); got != want {
		t.Errorf("verified: %q, want %q", got, want)
	}
	l.Close()

	// homestaker.verify=off is the lab's way out: it boots, with a warning.
	env = tunnelEnv(t, false)
	env.Mode = config.VerifyOff
	l, err = Locate(context.Background(), src, env, nil)
	if err != nil || !strings.Contains(l.Verified.Warning, "plain http outside the WireGuard tunnel") {
		t.Errorf("verify=off over plain http: %v, warning %q", err, l.Verified.Warning)
	}
	if l != nil {
		l.Close()
	}
}

// A redirect would take a tunnel source out of the tunnel: refused.
func TestTunnelSourceRedirectRefused(t *testing.T) {
	t.Parallel()
	other := serveTree(t, treeFiles(script))
	srv := httptest.NewServer(http.RedirectHandler(other.URL+"/tree/kexec-boot", http.StatusFound))
	t.Cleanup(srv.Close)
	_, err := Locate(context.Background(), []config.Source{httpSource(srv.URL + "/tree/")}, tunnelEnv(t, true), nil)
	if err == nil || !strings.Contains(err.Error(), "outside the channel") {
		t.Errorf("a redirect to another server: %v", err)
	}
}

// Item 4: credentials in the URL never reach a message.
func TestCredentialsInURLNeverShown(t *testing.T) {
	t.Parallel()
	srv := serveTree(t, map[string]string{})
	u := strings.Replace(srv.URL, "http://", "http://operator:hunter2@", 1) + "/tree/?token=s3cr3t"
	var msgs []string
	_, err := Locate(context.Background(), []config.Source{httpSource(u)}, tunnelEnv(t, true), func(s config.Source, err error) {
		msgs = append(msgs, s.String()+": "+err.Error())
	})
	msgs = append(msgs, err.Error(), httpSource(u).String())
	for _, m := range msgs {
		for _, secret := range []string{"hunter2", "s3cr3t", "operator"} {
			if strings.Contains(m, secret) {
				t.Errorf("%q shows %q", m, secret)
			}
		}
	}
}

// The volume is hostile input: a FIFO as kexec-boot fails that source at
// once (it would block the boot for ever), a symbolic link out of the
// volume is not followed, and the next source boots.
func TestHostileVolumeTree(t *testing.T) {
	t.Parallel()
	top := t.TempDir()
	mk := func(name string) string {
		dir := filepath.Join(top, "boot", name)
		good := tree(t, true)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		for _, f := range []string{"kexec-boot", "bzImage", "initrd.zst", "SHA256SUMS"} {
			b, _ := os.ReadFile(filepath.Join(good, f))
			os.WriteFile(filepath.Join(dir, f), b, 0o644)
		}
		return dir
	}
	fifo, link, good := mk("fifo"), mk("link"), mk("good")
	os.Remove(filepath.Join(fifo, "kexec-boot"))
	if err := syscall.Mkfifo(filepath.Join(fifo, "kexec-boot"), 0o644); err != nil {
		t.Fatal(err)
	}
	outside := filepath.Join(t.TempDir(), "initrd.zst")
	os.WriteFile(outside, []byte("initrd bytes"), 0o644)
	os.Remove(filepath.Join(link, "initrd.zst"))
	os.Symlink(outside, filepath.Join(link, "initrd.zst"))
	vol := func(p string) config.Source {
		return config.Source{Kind: config.SourceVolume, Path: p, Raw: "volume:" + p}
	}
	var refused []string
	done := make(chan struct{})
	var l *Loaded
	var err error
	go func() {
		defer close(done)
		l, err = Locate(context.Background(), []config.Source{vol("/boot/fifo"), vol("/boot/link"), vol("/boot/good")}, Env{Volume: top, Mode: config.VerifyChecksum}, func(s config.Source, err error) {
			refused = append(refused, s.String()+": "+err.Error())
		})
	}()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		t.Fatal("Locate blocked on the FIFO")
	}
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if l.Source.Path != "/boot/good" || l.Dir != good {
		t.Errorf("booted %s from %s, want /boot/good", l.Source, l.Dir)
	}
	if len(refused) != 2 || !strings.Contains(refused[0], "kexec-boot is a FIFO, not a regular file") || !strings.Contains(refused[1], "symbolic link out of the volume") {
		t.Errorf("refused: %q", refused)
	}
}

// A tree whose server wants a token in the query gets it with every file:
// each file's URL is the directory's path and the file's name, with the
// directory's query.
func TestTokenInQueryKeptForEachFile(t *testing.T) {
	t.Parallel()
	files := treeFiles(script)
	var bad []string
	var mu sync.Mutex
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		name := strings.TrimPrefix(r.URL.Path, "/tree/")
		if r.URL.Query().Get("token") != "s3cr3t" {
			mu.Lock()
			bad = append(bad, r.URL.String())
			mu.Unlock()
			http.Error(w, "no token", http.StatusForbidden)
			return
		}
		body, ok := files[name]
		if !ok {
			http.NotFound(w, r)
			return
		}
		fmt.Fprint(w, body)
	}))
	t.Cleanup(srv.Close)
	l, err := Locate(context.Background(), []config.Source{httpSource(srv.URL + "/tree/?token=s3cr3t")}, tunnelEnv(t, true), nil)
	if err != nil {
		t.Fatalf("%v (requests without the token: %q)", err, bad)
	}
	defer l.Close()
	if strings.Contains(l.Dir, "s3cr3t") || !strings.HasSuffix(l.Dir, "/tree/?token=<hidden>") {
		t.Errorf("the tree's directory is shown as %q", l.Dir)
	}
}
