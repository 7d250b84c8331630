package server

import (
	"crypto/tls"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"
)

// certReloader serves a certificate and key read from files and reads them
// again when either file changes, so a renewed certificate (cert-manager,
// certbot) is picked up by new connections without a restart. A pair that
// fails to load (a renewal caught halfway) keeps the previous certificate
// until a later check succeeds.
type certReloader struct {
	certFile, keyFile string
	every             time.Duration // least time between two looks at the files
	log               *slog.Logger

	mu      sync.Mutex
	cert    *tls.Certificate
	stamp   [2]fileStamp
	checked time.Time
	failing bool // the last reload failed (logged once until one succeeds)
}

// fileStamp is what tells that a file changed.
type fileStamp struct {
	mod  time.Time
	size int64
}

func stampOf(path string) (fileStamp, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return fileStamp{}, err
	}
	return fileStamp{mod: fi.ModTime(), size: fi.Size()}, nil
}

// newCertReloader loads the pair once; an unreadable pair is an error.
func newCertReloader(certFile, keyFile string, every time.Duration, log *slog.Logger) (*certReloader, error) {
	r := &certReloader{certFile: certFile, keyFile: keyFile, every: every, log: log}
	if err := r.load(); err != nil {
		return nil, err
	}
	r.checked = time.Now()
	return r, nil
}

// load reads the pair and, when it parses, makes it the served certificate.
func (r *certReloader) load() error {
	var st [2]fileStamp
	for i, p := range []string{r.certFile, r.keyFile} {
		s, err := stampOf(p)
		if err != nil {
			return fmt.Errorf("TLS: %w", err)
		}
		st[i] = s
	}
	cert, err := tls.LoadX509KeyPair(r.certFile, r.keyFile)
	if err != nil {
		return fmt.Errorf("TLS: %w", err)
	}
	r.cert, r.stamp = &cert, st
	return nil
}

// maybeReload reloads the pair when a file changed since the last load,
// looking at most once per r.every. r.mu is held.
func (r *certReloader) maybeReload(now time.Time) {
	if now.Sub(r.checked) < r.every {
		return
	}
	r.checked = now
	changed := false
	for i, p := range []string{r.certFile, r.keyFile} {
		s, err := stampOf(p)
		if err != nil || s != r.stamp[i] {
			changed = true
		}
	}
	if !changed {
		return
	}
	if err := r.load(); err != nil {
		if !r.failing {
			r.log.Warn("reloading the TLS certificate failed; serving the previous one", slog.String("error", err.Error()))
		}
		r.failing = true
		return
	}
	r.failing = false
	if leaf := r.cert.Leaf; leaf != nil {
		r.log.Info("TLS certificate reloaded", slog.String("not_after", leaf.NotAfter.UTC().Format(time.RFC3339)))
	} else {
		r.log.Info("TLS certificate reloaded")
	}
}

// GetCertificate is the tls.Config hook: the current certificate.
func (r *certReloader) GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.maybeReload(time.Now())
	return r.cert, nil
}
