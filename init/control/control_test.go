package control

import (
	"bytes"
	"path/filepath"
	"strings"
	"testing"
)

func TestRetryStreamsUntilFinish(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "control.sock")
	s, err := Listen(sock)
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
	s, err := Listen(sock)
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
