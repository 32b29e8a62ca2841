package fetch

import (
	"context"
	"errors"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
)

func TestSmall(t *testing.T) {
	t.Parallel()
	fe := setup(t)
	const script = "#!/bin/sh\nkexec --load ${SCRIPT_DIR}/bzImage\n"
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/boot/kexec-boot":
			if calls.Add(1) <= 2 {
				http.Error(w, "busy", http.StatusServiceUnavailable)
				return
			}
			w.Write([]byte(script))
		case "/boot/big":
			w.Write(make([]byte, 2048)) // with Content-Length
		case "/boot/big-chunked":
			for range 4 {
				w.Write(make([]byte, 512))
				w.(http.Flusher).Flush()
			}
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()
	ctx := context.Background()

	b, err := fe.small(ctx, srv.URL+"/boot/kexec-boot", 1<<20)
	if err != nil || string(b) != script {
		t.Fatalf("Small = %q, %v", b, err)
	}
	if calls.Load() != 3 {
		t.Errorf("%d requests, want 2 refused then 1 served", calls.Load())
	}

	_, err = fe.small(ctx, srv.URL+"/boot/SHA256SUMS", 1<<20)
	if !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("404: err = %v, want fs.ErrNotExist", err)
	}

	if b, err := fe.small(ctx, srv.URL+"/boot/big", 2048); err != nil || len(b) != 2048 {
		t.Errorf("exactly at the limit: %d bytes, %v", len(b), err)
	}
	for _, path := range []string{"/boot/big", "/boot/big-chunked"} {
		_, err := fe.small(ctx, srv.URL+path, 1024)
		if err == nil || !strings.Contains(err.Error(), "larger than the 1.0 KiB allowed") || !strings.Contains(err.Error(), "(1 attempt)") {
			t.Errorf("%s over the limit: err = %v", path, err)
		}
		if errors.Is(err, fs.ErrNotExist) {
			t.Errorf("%s: a failure reads as absent", path)
		}
	}
}

func TestSmallServerErrorIsNotAbsent(t *testing.T) {
	t.Parallel()
	fe := setup(t)
	ctx, cancel := context.WithCancel(context.Background())
	var n atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if n.Add(1) == 5 {
			cancel()
		}
		http.Error(w, "boom", http.StatusInternalServerError)
	}))
	defer srv.Close()
	_, err := fe.small(ctx, srv.URL+"/SHA256SUMS", 1<<20)
	if err == nil || errors.Is(err, fs.ErrNotExist) || !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v", err)
	}
	if !strings.Contains(err.Error(), "HTTP 500 Internal Server Error; gave up after 5 attempts") {
		t.Errorf("err = %v", err)
	}
}
