package ingest

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/logplex/logplex/config"
	"github.com/logplex/logplex/dataplane/route"
	"github.com/logplex/logplex/store/embedded"
)

// writeCert writes a self-signed certificate for 127.0.0.1 named cn.
func writeCert(t *testing.T, dir, cn string) (certFile, keyFile string, cert *x509.Certificate) {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ = x509.ParseCertificate(der)
	kb, _ := x509.MarshalECPrivateKey(key)
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600)
	os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600)
	return certFile, keyFile, cert
}

// Syslog over TLS: frames split across TLS records arrive in order; a
// reload serves the new certificate to new connections.
func TestSyslogOverTLS(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile, first := writeCert(t, dir, "first")
	snap := config.Build(map[string]config.Hash{
		config.ChannelKey("1"): config.ChannelHash("", ""),
		config.TokenKey(tok):   config.TokenHash("1", "app"),
	}, false, "1-0")
	sp := embedded.NewSpool(100, 0)
	router := route.New(func() *config.Snapshot { return snap }, sp, nil)
	s, err := NewTLS(TLSOptions{Addr: "127.0.0.1:0", CertFile: certFile, KeyFile: keyFile}, router,
		slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { s.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()

	dial := func(want *x509.Certificate) *tls.Conn {
		t.Helper()
		pool := x509.NewCertPool()
		pool.AddCert(want)
		c, err := tls.Dial("tcp", s.Addr().String(), &tls.Config{RootCAs: pool})
		if err != nil {
			t.Fatalf("dial: %v", err)
		}
		return c
	}
	c := dial(first)
	for i := range 3 {
		f := octet(msg(i))
		c.Write([]byte(f[:7])) // each frame in two TLS records
		c.Write([]byte(f[7:]))
	}
	c.Close()
	r := &rig{spool: sp}
	h := waitLen(t, r, "1", 3)
	for i, m := range h {
		if want := fmt.Sprintf(" app console.1 - - message %d", i); m[len(m)-len(want):] != want {
			t.Fatalf("message %d = %q", i, m)
		}
	}
	_, _, second := writeCert(t, dir, "second") // overwrites the files
	if err := s.Reload(); err != nil {
		t.Fatal(err)
	}
	c2 := dial(second) // verifies against the new certificate only
	if got := c2.ConnectionState().PeerCertificates[0].Subject.CommonName; got != "second" {
		t.Fatalf("after reload the listener serves %q", got)
	}
	c2.Close()
}
