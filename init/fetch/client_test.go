package fetch

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"log"
	"math/big"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// writeCA writes certificates as a PEM bundle and returns its path.
func writeCA(t *testing.T, certs ...*x509.Certificate) string {
	t.Helper()
	var b []byte
	for _, c := range certs {
		b = append(b, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})...)
	}
	p := filepath.Join(t.TempDir(), "ca-certificates.crt")
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// otherCA is a CA that signed nothing the test servers use.
func otherCA(t *testing.T) *x509.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "Some Other CA"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return cert
}

func tlsServer(t *testing.T) *httptest.Server {
	t.Helper()
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte("sha256  kexec-boot\n"))
	}))
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // the refused handshakes
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return srv
}

// The TLS tests go through File and Small as the init calls them: with
// the real backoff (a refusal is not retried) and memory checks.
func TestTLSTrustedBundle(t *testing.T) {
	t.Parallel()
	srv := tlsServer(t)
	c, err := Client(writeCA(t, otherCA(t), srv.Certificate()))
	if err != nil {
		t.Fatal(err)
	}
	b, err := Small(context.Background(), c, srv.URL+"/SHA256SUMS", 1<<20)
	if err != nil || string(b) != "sha256  kexec-boot\n" {
		t.Fatalf("Small = %q, %v", b, err)
	}
	dst := filepath.Join(t.TempDir(), "SHA256SUMS")
	if _, err := File(context.Background(), c, srv.URL+"/SHA256SUMS", dst, nil); err != nil {
		t.Fatal(err)
	}
}

func TestTLSUntrusted(t *testing.T) {
	t.Parallel()
	srv := tlsServer(t)
	bundle := writeCA(t, otherCA(t))
	c, err := Client(bundle)
	if err != nil {
		t.Fatal(err)
	}
	_, err = Small(context.Background(), c, srv.URL+"/SHA256SUMS", 1<<20)
	if err == nil {
		t.Fatal("a server signed by another CA was trusted")
	}
	for _, want := range []string{"server certificate not trusted by the CA bundle " + bundle, "(1 attempt)", "certificate signed by unknown authority"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not contain %q", err, want)
		}
	}
}

func TestTLSHostTrustIsNotUsed(t *testing.T) {
	t.Parallel()
	// Go's own test roots or the host's would never verify httptest's
	// certificate anyway; what matters is that a bundle we cannot use does
	// not fall back to them, and does not stop http.
	srv := tlsServer(t)
	plain := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte("ok"))
	}))
	defer plain.Close()
	dir := t.TempDir()
	empty := filepath.Join(dir, "empty.crt")
	garbage := filepath.Join(dir, "garbage.crt")
	os.WriteFile(empty, []byte("\n"), 0o644)
	os.WriteFile(garbage, []byte("not a certificate\n"), 0o644)
	for bundle, want := range map[string]string{
		filepath.Join(dir, "missing.crt"): "CA bundle " + filepath.Join(dir, "missing.crt") + " is missing",
		empty:                             "CA bundle " + empty + " is empty",
		garbage:                           "CA bundle " + garbage + " holds no PEM certificate",
		"":                                "no CA bundle is configured",
	} {
		c, err := Client(bundle)
		if err != nil {
			t.Fatalf("Client(%q): %v", bundle, err)
		}
		if b, err := Small(context.Background(), c, plain.URL+"/kexec-boot", 100); err != nil || string(b) != "ok" {
			t.Errorf("bundle %q: http failed: %v", bundle, err)
		}
		_, err = Small(context.Background(), c, srv.URL+"/kexec-boot", 100)
		if err == nil || !strings.Contains(err.Error(), want+", so no https server can be checked (1 attempt); use an http:// source") {
			t.Errorf("bundle %q: https err = %v", bundle, err)
		}
	}
}
