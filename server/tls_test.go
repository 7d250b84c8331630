package server

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/agate-ml/agate/models"
)

// selfSigned writes a certificate for 127.0.0.1 and its key.
func selfSigned(t *testing.T) (certFile, keyFile string) {
	t.Helper()
	dir := t.TempDir()
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	writeSelfSigned(t, certFile, keyFile, 1)
	return certFile, keyFile
}

// writeSelfSigned writes a certificate for 127.0.0.1 with the given serial
// number, and its key, to the two files.
func writeSelfSigned(t *testing.T, certFile, keyFile string, serial int64) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tpl := &x509.Certificate{SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: "agate test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tpl, tpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kb, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	// Write to temporary names and rename, as certificate managers do.
	for _, f := range []struct {
		path string
		b    *pem.Block
	}{{keyFile, &pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}}, {certFile, &pem.Block{Type: "CERTIFICATE", Bytes: der}}} {
		if err := os.WriteFile(f.path+".new", pem.EncodeToMemory(f.b), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(f.path+".new", f.path); err != nil {
			t.Fatal(err)
		}
	}
}

func TestServeTLS(t *testing.T) {
	certFile, keyFile := selfSigned(t)
	if _, err := New(models.NewRegistry(), Config{TLSCertFile: certFile}); err == nil {
		t.Error("a certificate without a key was accepted")
	}
	reg := models.NewRegistry()
	loadDemo(t, reg)
	s, err := New(reg, Config{TLSCertFile: certFile, TLSKeyFile: keyFile, TLSReloadInterval: time.Millisecond, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	s.SetReady(true)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx, ln) }()
	// get answers /readyz over HTTPS on a new connection and returns the
	// response; the client accepts any certificate, so that the test can
	// look at the one served.
	get := func(h2 bool) *http.Response {
		t.Helper()
		tr := &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}, ForceAttemptHTTP2: h2, DisableKeepAlives: true}
		defer tr.CloseIdleConnections()
		resp, err := (&http.Client{Transport: tr, Timeout: 5 * time.Second}).Get("https://" + ln.Addr().String() + "/readyz")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 || resp.TLS == nil {
			t.Fatalf("https /readyz: %d, TLS %v", resp.StatusCode, resp.TLS != nil)
		}
		return resp
	}
	serial := func(resp *http.Response) int64 { return resp.TLS.PeerCertificates[0].SerialNumber.Int64() }

	// The certificate verifies against itself for 127.0.0.1.
	pool := x509.NewCertPool()
	pemBytes, _ := os.ReadFile(certFile)
	pool.AppendCertsFromPEM(pemBytes)
	verified := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}, Timeout: 5 * time.Second}
	resp, err := verified.Get("https://" + ln.Addr().String() + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()

	// HTTP/2 through ALPN, HTTP/1.1 for clients that do not offer it.
	if r := get(true); r.ProtoMajor != 2 {
		t.Errorf("a client offering h2 got %s", r.Proto)
	}
	if r := get(false); r.ProtoMajor != 1 {
		t.Errorf("an HTTP/1.1 client got %s", r.Proto)
	}
	if got := serial(get(true)); got != 1 {
		t.Fatalf("serial %d, want 1", got)
	}

	// A renewed certificate is served to new connections without a restart.
	writeSelfSigned(t, certFile, keyFile, 2)
	deadline := time.Now().Add(5 * time.Second)
	for serial(get(false)) != 2 {
		if time.Now().After(deadline) {
			t.Fatal("the renewed certificate was not served within 5 s")
		}
		time.Sleep(5 * time.Millisecond)
	}
	// A broken renewal keeps the last good certificate.
	if err := os.WriteFile(certFile, []byte("not a certificate"), 0o600); err != nil {
		t.Fatal(err)
	}
	time.Sleep(20 * time.Millisecond)
	if got := serial(get(false)); got != 2 {
		t.Errorf("after a broken renewal the server serves serial %d, want the previous certificate (2)", got)
	}
	// plain HTTP to the TLS port is refused
	if resp, err := http.Get("http://" + ln.Addr().String() + "/readyz"); err == nil {
		if resp.StatusCode == 200 {
			t.Error("plain HTTP was served on the TLS port")
		}
		resp.Body.Close()
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("shutdown: %v", err)
	}
	reg.Close()
}
