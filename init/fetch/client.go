// Package fetch downloads a kexec tree over HTTP(S) for the init: small
// files into memory, the kernel and initrd into tmpfs once, resuming and
// retrying until the caller's context ends, after checking they fit in RAM.
package fetch

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/homestaker/homestaker-boot/init/config"
)

// Timeouts of one attempt. There is no overall timeout: a 4 GB initrd over
// a slow tunnel takes as long as it takes, and the caller's context bounds
// it. A body that stops flowing is caught by stallTimeout instead.
const (
	dialTimeout           = 10 * time.Second
	tlsHandshakeTimeout   = 10 * time.Second
	responseHeaderTimeout = 15 * time.Second
)

// Client returns an HTTP client whose TLS trusts only the CA bundle at
// caFile. A missing, empty or unusable bundle does not fail Client: it fails
// every https request with the reason, so that an http source still works.
// The error is nil today; it leaves room for a check that must stop boot.
func Client(caFile string) (*http.Client, error) {
	pool, caErr := loadCABundle(caFile)
	if pool == nil {
		// Never nil RootCAs: that would mean the host's roots.
		pool = x509.NewCertPool()
	}
	tr := &http.Transport{
		Proxy: nil, // a PID 1 has no proxy environment to honour
		DialContext: (&net.Dialer{
			Timeout:   dialTimeout,
			KeepAlive: 30 * time.Second,
		}).DialContext,
		TLSClientConfig: &tls.Config{
			RootCAs:    pool,
			MinVersion: tls.VersionTLS12,
		},
		TLSHandshakeTimeout:   tlsHandshakeTimeout,
		ResponseHeaderTimeout: responseHeaderTimeout,
		ExpectContinueTimeout: time.Second,
		IdleConnTimeout:       90 * time.Second,
		MaxIdleConnsPerHost:   2,
		// Go would otherwise ask for gzip and decompress behind our back,
		// which breaks Content-Length, Range and the memory check.
		DisableCompression: true,
	}
	return &http.Client{Transport: &trustCheck{tr: tr, caFile: caFile, caErr: caErr}}, nil
}

// loadCABundle reads the PEM bundle. A nil pool comes with the reason.
func loadCABundle(caFile string) (*x509.CertPool, error) {
	if caFile == "" {
		return nil, &caBundleError{msg: "no CA bundle is configured"}
	}
	b, err := os.ReadFile(caFile)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, &caBundleError{msg: fmt.Sprintf("CA bundle %s is missing", caFile), err: err}
		}
		return nil, &caBundleError{msg: fmt.Sprintf("CA bundle %s: %v", caFile, err), err: err}
	}
	if len(strings.TrimSpace(string(b))) == 0 {
		return nil, &caBundleError{msg: fmt.Sprintf("CA bundle %s is empty", caFile)}
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(b) {
		return nil, &caBundleError{msg: fmt.Sprintf("CA bundle %s holds no PEM certificate", caFile)}
	}
	return pool, nil
}

// caBundleError says why https cannot be checked at all.
type caBundleError struct {
	msg string
	err error
}

func (e *caBundleError) Error() string {
	return e.msg + ", so no https server can be checked"
}
func (e *caBundleError) Unwrap() error { return e.err }

// certError is a server certificate that the bundle does not vouch for.
type certError struct {
	caFile string
	err    error
}

func (e *certError) Error() string {
	return fmt.Sprintf("server certificate not trusted by the CA bundle %s: %v", e.caFile, e.err)
}
func (e *certError) Unwrap() error { return e.err }

// trustCheck refuses https when there is no bundle, including after a
// redirect from http, and names the bundle when a certificate is refused.
type trustCheck struct {
	tr     *http.Transport
	caFile string
	caErr  error
}

func (t *trustCheck) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.URL.Scheme == "https" && t.caErr != nil {
		if req.Body != nil {
			req.Body.Close()
		}
		return nil, t.caErr
	}
	resp, err := t.tr.RoundTrip(req)
	var verr *tls.CertificateVerificationError
	if errors.As(err, &verr) {
		return nil, &certError{caFile: t.caFile, err: verr.Err}
	}
	return resp, err
}

// Redact returns rawURL without its userinfo, for messages and the console:
// a password in homestaker.next must never reach a screen or a report.
func Redact(rawURL string) string { return config.RedactURL(rawURL) }

// Pinned returns a copy of c for a source whose channel was checked: with
// dial set (a source pinned to the addresses and the device it was checked
// for) it follows a redirect only to the same scheme and host; without, it
// follows redirects to https only (any host the CA bundle vouches for,
// never a downgrade to http). A redirect elsewhere would leave the channel
// the tree is trusted for.
func Pinned(c *http.Client, dial func(ctx context.Context, network, addr string) (net.Conn, error)) *http.Client {
	out := &http.Client{CheckRedirect: sameOrigin}
	if dial == nil {
		out.CheckRedirect = httpsOnly
	}
	switch t := c.Transport.(type) {
	case *trustCheck:
		tr := t.tr.Clone()
		if dial != nil {
			tr.DialContext = dial
		}
		out.Transport = &trustCheck{tr: tr, caFile: t.caFile, caErr: t.caErr}
	case *http.Transport:
		tr := t.Clone()
		if dial != nil {
			tr.DialContext = dial
		}
		out.Transport = tr
	default:
		tr := http.DefaultTransport.(*http.Transport).Clone()
		if dial != nil {
			tr.DialContext = dial
		}
		out.Transport = tr
	}
	return out
}

func sameOrigin(req *http.Request, via []*http.Request) error {
	first := via[0].URL
	if req.URL.Scheme != first.Scheme || req.URL.Host != first.Host {
		return &redirectError{from: Redact(first.Scheme + "://" + first.Host + "/"), to: Redact(req.URL.Scheme + "://" + req.URL.Host + "/")}
	}
	if len(via) >= 10 {
		return errors.New("stopped after 10 redirects")
	}
	return nil
}

func httpsOnly(req *http.Request, via []*http.Request) error {
	if req.URL.Scheme != "https" {
		first := via[0].URL
		return &redirectError{from: Redact(first.Scheme + "://" + first.Host + "/"), to: Redact(req.URL.Scheme + "://" + req.URL.Host + "/")}
	}
	if len(via) >= 10 {
		return errors.New("stopped after 10 redirects")
	}
	return nil
}

// redirectError is a redirect out of a source's channel: not retried.
type redirectError struct{ from, to string }

func (e *redirectError) Error() string {
	return fmt.Sprintf("redirected from %s to %s, outside the channel the tree is checked for", e.from, e.to)
}
