package control

import (
	"bytes"
	"fmt"
	"net"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
)

func TestRetryStreamsUntilFinish(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "control.sock")
	s, err := Listen(sock, t.Logf)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	go func() {
		r := <-s.Requests()
		r.Write([]byte("[  OK  ] secrets: checked\r\n"))
		r.Finish("the boot stopped again in stage %s", "handover")
	}()
	var out bytes.Buffer
	if code := Retry(sock, &out); code != 1 {
		t.Errorf("exit %d, want 1 (stopped again)\n%s", code, out.String())
	}
	if !strings.Contains(out.String(), "secrets: checked\n") || !strings.Contains(out.String(), "stopped again in stage handover") {
		t.Errorf("client output:\n%s", out.String())
	}
}

func TestRetryEndsWithTheHandover(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "control.sock")
	s, err := Listen(sock, t.Logf)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	go func() {
		r := <-s.Requests()
		r.Write([]byte("[  OK  ] handover: kexec\r\n"))
		r.conn.Close() // the kexec takes the machine: no last line
	}()
	var out bytes.Buffer
	if code := Retry(sock, &out); code != 0 {
		t.Errorf("exit %d, want 0\n%s", code, out.String())
	}
	if !strings.Contains(out.String(), "went on to the handover") {
		t.Errorf("client output:\n%s", out.String())
	}
}

func TestRetryWithoutInit(t *testing.T) {
	var out bytes.Buffer
	if code := Retry(filepath.Join(t.TempDir(), "none.sock"), &out); code != 2 {
		t.Errorf("exit %d, want 2", code)
	}
	if !strings.Contains(out.String(), "no boot to retry") {
		t.Errorf("output %q", out.String())
	}
}

// A bug in serving one request ends that request with a last line the
// client shows; the server goes on and the next request is delivered.
func TestPanicEndsOnlyThatRequest(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "control.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var log []string
	var calls atomic.Int32
	s := &Server{ln: ln, reqs: make(chan *Request),
		logf: func(format string, args ...any) {
			mu.Lock()
			defer mu.Unlock()
			log = append(log, fmt.Sprintf(format, args...))
		},
		requested: func(string) {
			if calls.Add(1) == 1 {
				panic("request broke")
			}
		},
	}
	go s.serve()
	defer s.Close()
	var out bytes.Buffer
	if code := Retry(sock, &out); code != 1 || !strings.Contains(out.String(), EndPrefix+"internal error: request broke") {
		t.Errorf("exit %d, want 1 with the internal error:\n%s", code, out.String())
	}
	mu.Lock()
	text := strings.Join(log, "\n")
	mu.Unlock()
	if !strings.Contains(text, "internal error in a control socket request: request broke") || !strings.Contains(text, "control.(*Server).read(") {
		t.Errorf("log lacks the internal error and its stack:\n%s", text)
	}
	go func() {
		r := <-s.Requests()
		r.Finish("the boot stopped again in stage %s", "handover")
	}()
	out.Reset()
	if code := Retry(sock, &out); code != 1 || !strings.Contains(out.String(), "stopped again in stage handover") {
		t.Errorf("the request after the panic: exit %d\n%s", code, out.String())
	}
}
