package fetch

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// testFetcher is File and Small over c with fast retries, on a machine
// with a known 8 GiB of memory.
func testFetcher(c *http.Client) *fetcher {
	fe := newFetcher(c)
	fe.backoffMin, fe.backoffMax = time.Millisecond, 5*time.Millisecond
	fe.memAvailable = func() (int64, error) { return 8 << 30, nil }
	return fe
}

// setup is a testFetcher over a client without a CA bundle.
func setup(t *testing.T) *fetcher {
	t.Helper()
	c, err := Client(filepath.Join(t.TempDir(), "no-bundle.crt"))
	if err != nil {
		t.Fatal(err)
	}
	return testFetcher(c)
}

// source is a deterministic "initrd" of n bytes.
func source(seed uint64, n int) []byte {
	b := make([]byte, n)
	r := rand.New(rand.NewChaCha8([32]byte{byte(seed)}))
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

// cutWriter passes left bytes of the body, then drops the connection, as
// a tunnel going down does.
type cutWriter struct {
	http.ResponseWriter
	left int
}

func (w *cutWriter) Write(p []byte) (int, error) {
	if len(p) <= w.left {
		w.left -= len(p)
		return w.ResponseWriter.Write(p)
	}
	n, _ := w.ResponseWriter.Write(p[:w.left])
	w.left = 0
	rc := http.NewResponseController(w.ResponseWriter)
	rc.Flush()
	if conn, _, err := rc.Hijack(); err == nil {
		conn.Close()
	}
	return n, errors.New("connection cut by the test")
}

// requests records what a test server was asked.
type requests struct {
	mu      sync.Mutex
	ranges  []string
	ifRange []string
}

func (q *requests) add(r *http.Request) int {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.ranges = append(q.ranges, r.Header.Get("Range"))
	q.ifRange = append(q.ifRange, r.Header.Get("If-Range"))
	return len(q.ranges)
}

func (q *requests) get() (ranges, ifRange []string) {
	q.mu.Lock()
	defer q.mu.Unlock()
	return append([]string(nil), q.ranges...), append([]string(nil), q.ifRange...)
}

var modTime = time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)

// fetchFile runs File into a temporary directory and returns the file's
// bytes and every progress report.
func fetchFile(t *testing.T, fe *fetcher, url string) ([]byte, []Progress, error) {
	t.Helper()
	dst := filepath.Join(t.TempDir(), "initrd.zst")
	var reports []Progress
	n, err := fe.file(context.Background(), url, dst, func(p Progress) { reports = append(reports, p) })
	if err != nil {
		if _, serr := os.Stat(dst); !os.IsNotExist(serr) {
			t.Errorf("after a failure %s is still there (%v)", dst, serr)
		}
		return nil, reports, err
	}
	got, rerr := os.ReadFile(dst)
	if rerr != nil {
		t.Fatal(rerr)
	}
	if n != int64(len(got)) {
		t.Errorf("File returned %d bytes, the file has %d", n, len(got))
	}
	return got, reports, nil
}

func lastReport(t *testing.T, reports []Progress) Progress {
	t.Helper()
	if len(reports) == 0 {
		t.Fatal("no progress reported")
	}
	return reports[len(reports)-1]
}

func TestFilePlain(t *testing.T) {
	t.Parallel()
	fe := setup(t)
	src := source(1, 3<<20+17)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("ETag", `"v1"`)
		http.ServeContent(w, r, "initrd.zst", modTime, bytes.NewReader(src))
	}))
	defer srv.Close()

	dst := filepath.Join(t.TempDir(), "initrd.zst")
	var reports []Progress
	n, err := fe.file(context.Background(), srv.URL+"/boot/initrd.zst", dst, func(p Progress) { reports = append(reports, p) })
	if err != nil {
		t.Fatal(err)
	}
	got, _ := os.ReadFile(dst)
	if n != int64(len(src)) || !bytes.Equal(got, src) {
		t.Fatalf("downloaded %d bytes, differing from the %d served", n, len(src))
	}
	if st, _ := os.Stat(dst); st.Mode().Perm() != 0o600 {
		t.Errorf("mode %v, want 0600", st.Mode().Perm())
	}
	last := lastReport(t, reports)
	if !last.Finished || last.Done != int64(len(src)) || last.Total != int64(len(src)) || last.Resumes != 0 || last.Rate <= 0 {
		t.Errorf("last progress %+v", last)
	}
	if !strings.HasPrefix(last.String(), "initrd.zst  3.0 MiB / 3.0 MiB  ") || !strings.HasSuffix(last.String(), "  done") {
		t.Errorf("last progress line %q", last.String())
	}
	for _, p := range reports[:len(reports)-1] {
		if p.Finished || p.Total != int64(len(src)) {
			t.Errorf("progress before the end: %+v", p)
		}
	}
}

func TestFileReplacesExisting(t *testing.T) {
	t.Parallel()
	fe := setup(t)
	src := source(2, 1000)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.ServeContent(w, r, "k", modTime, bytes.NewReader(src))
	}))
	defer srv.Close()
	dst := filepath.Join(t.TempDir(), "bzImage")
	if err := os.WriteFile(dst, source(3, 5000), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := fe.file(context.Background(), srv.URL+"/bzImage", dst, nil); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(dst); !bytes.Equal(got, src) {
		t.Fatalf("old content left in %s", dst)
	}
}

func TestFileUnknownSize(t *testing.T) {
	t.Parallel()
	fe := setup(t)
	src := source(4, 200_000)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		for chunk := range slices(src, 10_000) {
			w.Write(chunk)
			w.(http.Flusher).Flush() // no Content-Length: chunked
		}
	}))
	defer srv.Close()
	got, reports, err := fetchFile(t, fe, srv.URL+"/initrd")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, src) {
		t.Fatal("content differs")
	}
	if reports[0].Total != -1 || strings.Contains(reports[0].String(), " / ") {
		t.Errorf("first report %+v %q, want an unknown total", reports[0], reports[0])
	}
	if last := lastReport(t, reports); !last.Finished || last.Total != int64(len(src)) {
		t.Errorf("last report %+v", last)
	}
}

func slices(b []byte, n int) func(func([]byte) bool) {
	return func(yield func([]byte) bool) {
		for len(b) > 0 {
			k := min(n, len(b))
			if !yield(b[:k]) {
				return
			}
			b = b[k:]
		}
	}
}

func TestFileResumesAfterDrops(t *testing.T) {
	t.Parallel()
	fe := setup(t)
	src := source(5, 1<<20)
	q := len(src) / 4
	var reqs requests
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := reqs.add(r)
		w.Header().Set("ETag", `"v1"`)
		var out http.ResponseWriter = w
		if n <= 2 {
			out = &cutWriter{ResponseWriter: w, left: q}
		}
		http.ServeContent(out, r, "initrd.zst", modTime, bytes.NewReader(src))
	}))
	defer srv.Close()

	got, reports, err := fetchFile(t, fe, srv.URL+"/initrd.zst")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, src) {
		t.Fatal("resumed download differs from the source")
	}
	ranges, ifRange := reqs.get()
	want := []string{"", fmt.Sprintf("bytes=%d-", q), fmt.Sprintf("bytes=%d-", 2*q)}
	if fmt.Sprint(ranges) != fmt.Sprint(want) {
		t.Errorf("Range headers %q, want %q", ranges, want)
	}
	if ifRange[1] != `"v1"` || ifRange[2] != `"v1"` {
		t.Errorf("If-Range headers %q, want the ETag", ifRange)
	}
	last := lastReport(t, reports)
	if last.Resumes != 2 || !last.Finished {
		t.Errorf("last report %+v, want 2 resumes", last)
	}
	if !strings.Contains(last.String(), "(resumed 2 times)") {
		t.Errorf("last line %q does not say it resumed", last)
	}
	retries := 0
	for _, p := range reports {
		if p.Retrying != nil {
			retries++
			if !strings.Contains(p.String(), "retrying: connection lost after") {
				t.Errorf("retry line %q", p)
			}
		}
	}
	if retries != 2 {
		t.Errorf("%d retry reports, want 2", retries)
	}
}

func TestFileResumesWithLastModified(t *testing.T) {
	t.Parallel()
	fe := setup(t)
	src := source(6, 100_000)
	var reqs requests
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var out http.ResponseWriter = w
		if reqs.add(r) == 1 {
			out = &cutWriter{ResponseWriter: w, left: 30_000}
		}
		http.ServeContent(out, r, "initrd.zst", modTime, bytes.NewReader(src)) // no ETag
	}))
	defer srv.Close()
	got, reports, err := fetchFile(t, fe, srv.URL+"/initrd.zst")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, src) {
		t.Fatal("content differs")
	}
	_, ifRange := reqs.get()
	if len(ifRange) != 2 || ifRange[1] != modTime.Format(http.TimeFormat) {
		t.Errorf("If-Range headers %q, want the Last-Modified date", ifRange)
	}
	if last := lastReport(t, reports); last.Resumes != 1 {
		t.Errorf("Resumes = %d, want 1", last.Resumes)
	}
}

func TestFileServerIgnoresRange(t *testing.T) {
	t.Parallel()
	fe := setup(t)
	src := source(7, 500_000)
	var reqs requests
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var out http.ResponseWriter = w
		if reqs.add(r) == 1 {
			out = &cutWriter{ResponseWriter: w, left: 200_000}
		}
		w.Header().Set("ETag", `"v1"`)
		w.Header().Set("Content-Length", fmt.Sprint(len(src)))
		out.Write(src) // always 200, whole file
	}))
	defer srv.Close()
	got, reports, err := fetchFile(t, fe, srv.URL+"/initrd.zst")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, src) {
		t.Fatal("content differs after a restart from 0")
	}
	if ranges, _ := reqs.get(); len(ranges) != 2 || ranges[1] != "bytes=200000-" {
		t.Errorf("Range headers %q", ranges)
	}
	if last := lastReport(t, reports); last.Resumes != 0 || last.Done != int64(len(src)) {
		t.Errorf("last report %+v, want no resume", last)
	}
}

func TestFileChangedOnServer(t *testing.T) {
	t.Parallel()
	fe := setup(t)
	v1, v2 := source(8, 400_000), source(9, 300_000)
	var reqs requests
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if reqs.add(r) == 1 {
			w.Header().Set("ETag", `"v1"`)
			http.ServeContent(&cutWriter{ResponseWriter: w, left: 250_000}, r, "initrd.zst", modTime, bytes.NewReader(v1))
			return
		}
		// Rebuilt between the attempts: same name, new content.
		w.Header().Set("ETag", `"v2"`)
		http.ServeContent(w, r, "initrd.zst", modTime.Add(time.Hour), bytes.NewReader(v2))
	}))
	defer srv.Close()
	got, reports, err := fetchFile(t, fe, srv.URL+"/initrd.zst")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, v2) {
		t.Fatalf("got %d bytes, want the new version's %d, with nothing of the old", len(got), len(v2))
	}
	ranges, ifRange := reqs.get()
	if len(ranges) != 2 || ranges[1] != "bytes=250000-" || ifRange[1] != `"v1"` {
		t.Errorf("second request Range %q If-Range %q", ranges, ifRange)
	}
	if last := lastReport(t, reports); last.Resumes != 0 || last.Total != int64(len(v2)) {
		t.Errorf("last report %+v", last)
	}
}

func TestFileStallResumes(t *testing.T) {
	t.Parallel()
	fe := setup(t)
	fe.stallTimeout = 100 * time.Millisecond
	src := source(10, 100_000)
	var reqs requests
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if reqs.add(r) == 1 {
			w.Header().Set("Content-Length", fmt.Sprint(len(src)))
			w.Write(src[:40_000])
			w.(http.Flusher).Flush()
			select { // the tunnel went away: nothing more, no close
			case <-r.Context().Done():
			case <-time.After(5 * time.Second):
			}
			return
		}
		http.ServeContent(w, r, "initrd.zst", modTime, bytes.NewReader(src))
	}))
	defer srv.Close()
	got, reports, err := fetchFile(t, fe, srv.URL+"/initrd.zst")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, src) {
		t.Fatal("content differs")
	}
	stalled := false
	for _, p := range reports {
		if p.Retrying != nil && strings.Contains(p.Retrying.Error(), "no data for 100ms") {
			stalled = true
		}
	}
	if !stalled || lastReport(t, reports).Resumes != 1 {
		t.Errorf("reports %v, want a stall then one resume", reports)
	}
}

func TestFileTooLargeForMemory(t *testing.T) {
	t.Parallel()
	fe := setup(t)
	fe.memAvailable = func() (int64, error) { return 1 << 30, nil }
	var reqs requests
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		reqs.add(r)
		w.Header().Set("Content-Length", fmt.Sprint(int64(5)<<30))
		w.WriteHeader(http.StatusOK)
		w.(http.Flusher).Flush()
		select {
		case <-r.Context().Done():
		case <-time.After(5 * time.Second):
		}
	}))
	defer srv.Close()
	start := time.Now()
	_, _, err := fetchFile(t, fe, srv.URL+"/initrd.zst")
	if err == nil {
		t.Fatal("a 5 GiB download on a 1 GiB machine was accepted")
	}
	if time.Since(start) > 2*time.Second {
		t.Errorf("refusal took %v", time.Since(start))
	}
	for _, want := range []string{"/initrd.zst", "5.0 GiB (5368709120 bytes) does not fit in memory", "1.0 GiB available", "(1 attempt)", "more memory"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not contain %q", err, want)
		}
	}
	if ranges, _ := reqs.get(); len(ranges) != 1 {
		t.Errorf("%d requests, want 1: a refusal is not retried", len(ranges))
	}
}

func TestFileUnknownSizeTooLarge(t *testing.T) {
	t.Parallel()
	fe := setup(t)
	fe.memAvailable = func() (int64, error) { return 10 << 20, nil }
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte("chunk"))
		w.(http.Flusher).Flush()
	}))
	defer srv.Close()
	_, _, err := fetchFile(t, fe, srv.URL+"/initrd.zst")
	if err == nil || !strings.Contains(err.Error(), "only 10.0 MiB of memory is available") {
		t.Fatalf("err = %v, want a refusal naming the memory", err)
	}
}

func TestFileNoSpace(t *testing.T) {
	t.Parallel()
	fe := setup(t)
	fe.spaceAvailable = func(string) (int64, error) { return 1 << 20, nil }
	src := source(11, 2<<20)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.ServeContent(w, r, "initrd.zst", modTime, bytes.NewReader(src))
	}))
	defer srv.Close()
	_, _, err := fetchFile(t, fe, srv.URL+"/initrd.zst")
	if err == nil || !strings.Contains(err.Error(), "2.0 MiB (2097152 bytes) does not fit in ") || !strings.Contains(err.Error(), "only 1.0 MiB free there") {
		t.Fatalf("err = %v, want a refusal naming the filesystem", err)
	}
}

func TestFileNotFound(t *testing.T) {
	t.Parallel()
	fe := setup(t)
	srv := httptest.NewServer(http.NotFoundHandler())
	defer srv.Close()
	_, _, err := fetchFile(t, fe, srv.URL+"/boot/initrd.zst")
	if !errors.Is(err, os.ErrNotExist) || !strings.Contains(err.Error(), "HTTP 404 Not Found (1 attempt)") {
		t.Fatalf("err = %v", err)
	}
}

func TestFileCancelStopsRetries(t *testing.T) {
	t.Parallel()
	fe := setup(t)
	prod := newFetcher(nil)
	fe.backoffMin, fe.backoffMax = prod.backoffMin, prod.backoffMax // the real ones
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "starting", http.StatusServiceUnavailable)
	}))
	defer srv.Close()
	ctx, cancel := context.WithCancel(context.Background())
	var canceled time.Time
	time.AfterFunc(600*time.Millisecond, func() { canceled = time.Now(); cancel() })
	_, err := fe.file(ctx, srv.URL+"/initrd.zst", filepath.Join(t.TempDir(), "initrd.zst"), nil)
	if late := time.Since(canceled); late > 200*time.Millisecond {
		t.Errorf("File returned %v after the cancel", late)
	}
	if !errors.Is(err, context.Canceled) {
		t.Errorf("err = %v, want context.Canceled", err)
	}
	for _, want := range []string{"HTTP 503 Service Unavailable; gave up after ", " attempts (context canceled); check that the server is up and serves that directory"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not contain %q", err, want)
		}
	}
}

func TestFileCancelDuringBody(t *testing.T) {
	t.Parallel()
	fe := setup(t)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "1000000")
		w.Write(make([]byte, 1000))
		w.(http.Flusher).Flush()
		select {
		case <-r.Context().Done():
		case <-time.After(5 * time.Second):
		}
	}))
	defer srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := fe.file(ctx, srv.URL+"/initrd.zst", filepath.Join(t.TempDir(), "initrd.zst"), nil)
	if !errors.Is(err, context.DeadlineExceeded) || time.Since(start) > time.Second {
		t.Fatalf("after %v: err = %v", time.Since(start), err)
	}
}

func TestErrorsHideUserinfo(t *testing.T) {
	t.Parallel()
	fe := setup(t)
	var user, pass string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		user, pass, _ = r.BasicAuth()
		http.Error(w, "no", http.StatusForbidden)
	}))
	defer srv.Close()
	u := strings.Replace(srv.URL, "http://", "http://operator:s3cret@", 1) + "/boot/current/kexec-boot"
	for name, err := range map[string]error{
		"Small": func() error { _, err := fe.small(context.Background(), u, 1<<20); return err }(),
		"File":  func() error { _, _, err := fetchFile(t, fe, u); return err }(),
	} {
		if err == nil {
			t.Fatalf("%s: no error", name)
		}
		if msg := err.Error(); strings.Contains(msg, "s3cret") || strings.Contains(msg, "operator") ||
			!strings.Contains(msg, srv.URL+"/boot/current/kexec-boot: HTTP 403 Forbidden (1 attempt); check the user and password") {
			t.Errorf("%s: %q", name, msg)
		}
	}
	if user != "operator" || pass != "s3cret" {
		t.Errorf("server saw basic auth %q %q", user, pass)
	}
}

func TestRedact(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"http://10.0.0.1/boot/current":             "http://10.0.0.1/boot/current",
		"https://u:p@boot.lan:8443/x/initrd.zst":   "https://boot.lan:8443/x/initrd.zst",
		"https://u@boot.lan/x":                     "https://boot.lan/x",
		"http://u:p%zz@host/x":                     "http://host/x",
		"http://u:p@h@host/x?q=a@b":                "http://host/x?q=<hidden>",
		"https://boot.lan/tree/?token=s3cr3t&x=1":  "https://boot.lan/tree/?token=<hidden>&x=<hidden>",
		"http://host/a@b":                          "http://host/a@b",
		"not a url":                                "not a url",
		"http://user:pa ss@[::1/x":                 "http://[::1/x",
		"https://u:p@[fe80::1%25wg0]:80/boot/next": "https://[fe80::1%25wg0]:80/boot/next",
	} {
		if got := Redact(in); got != want {
			t.Errorf("Redact(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestParseContentRange(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in           string
		start, total int64
		ok           bool
	}{
		{"bytes 100-199/200", 100, 200, true},
		{"bytes 0-0/1", 0, 1, true},
		{"bytes 5-9/*", 5, -1, true},
		{"bytes 100-199/150", 0, 0, false},
		{"bytes 9-5/20", 0, 0, false},
		{"bytes */200", 0, 0, false},
		{"items 1-2/3", 0, 0, false},
		{"bytes -1-5/9", 0, 0, false},
		{"", 0, 0, false},
	} {
		start, total, err := parseContentRange(tc.in)
		if (err == nil) != tc.ok || start != tc.start || total != tc.total {
			t.Errorf("parseContentRange(%q) = %d, %d, %v", tc.in, start, total, err)
		}
	}
}

func TestBadURL(t *testing.T) {
	t.Parallel()
	fe := setup(t)
	for _, u := range []string{"http://op:s3cret@host:port/x", "ftp://op:s3cret@host/x", "http://op:s3cret@[::1/x"} {
		_, err := fe.small(context.Background(), u, 100)
		if err == nil || strings.Contains(err.Error(), "s3cret") || !strings.Contains(err.Error(), "bad URL") || !strings.Contains(err.Error(), "(1 attempt)") {
			t.Errorf("Small(%q): %v", u, err)
		}
		_, err = fe.file(context.Background(), u, filepath.Join(t.TempDir(), "x"), nil)
		if err == nil || strings.Contains(err.Error(), "s3cret") || !strings.Contains(err.Error(), "bad URL") {
			t.Errorf("File(%q): %v", u, err)
		}
	}
}

func TestLocalErrorIsNotAbsent(t *testing.T) {
	t.Parallel()
	fe := setup(t)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("x")) }))
	defer srv.Close()
	_, err := fe.file(context.Background(), srv.URL+"/x", filepath.Join(t.TempDir(), "missing-dir", "x"), nil)
	if err == nil || errors.Is(err, os.ErrNotExist) {
		t.Fatalf("err = %v: a missing local directory must not read as a missing remote file", err)
	}
}
