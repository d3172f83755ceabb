package drain

// TLS for syslog+tls:// drains (docs/logplex.md §5.6): TLS 1.2 or later, the chain and
// the URL's host verified against the system roots plus Options.TLSCAFile,
// at most Options.TLSMaxDepth intermediates; a certificate of the presented chain
// whose public key is pinned (Options.TLSPinnedCerts) is trusted as a CA
// (partial chain). "#insecure" or Options.TLSInsecure turn verification off.

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"sync"
	"syscall"

	"github.com/logplex/logplex/config"
)

// tlsTrust is the trust material shared by the TLS drains of one Options.
type tlsTrust struct {
	roots  *x509.CertPool
	pinned [][]byte // RawSubjectPublicKeyInfo of each pinned certificate
}

var (
	tlsTrustMu    sync.Mutex
	tlsTrustCache = map[[2]string]*tlsTrust{} // (CA file, pinned PEM) → trust
)

// loadTLSTrust reads the CA file and pinned certificates once per distinct
// setting (building a pool copies the system pool, too costly to repeat for
// each of thousands of drains); HTTP and syslog drains share it.
func loadTLSTrust(caFile, pinnedPEM string) (*tlsTrust, error) {
	tlsTrustMu.Lock()
	defer tlsTrustMu.Unlock()
	key := [2]string{caFile, pinnedPEM}
	if t := tlsTrustCache[key]; t != nil {
		return t, nil
	}
	roots, err := x509.SystemCertPool()
	if err != nil {
		roots = x509.NewCertPool()
	}
	if caFile != "" {
		b, err := os.ReadFile(caFile)
		if err != nil {
			return nil, fmt.Errorf("tls CA file: %w", err)
		}
		if !roots.AppendCertsFromPEM(b) {
			return nil, fmt.Errorf("tls CA file %s: no PEM certificate in it", caFile)
		}
	}
	t := &tlsTrust{roots: roots}
	rest := []byte(pinnedPEM)
	for {
		var blk *pem.Block
		if blk, rest = pem.Decode(rest); blk == nil {
			break
		}
		c, err := x509.ParseCertificate(blk.Bytes)
		if err != nil {
			return nil, fmt.Errorf("tls pinned certificates: %w", err)
		}
		t.pinned = append(t.pinned, c.RawSubjectPublicKeyInfo)
	}
	if strings.TrimSpace(pinnedPEM) != "" && len(t.pinned) == 0 {
		return nil, errors.New("tls pinned certificates: no PEM certificate in them")
	}
	tlsTrustCache[key] = t
	return t, nil
}

// tlsVerifier checks the endpoint's chain and host name.
type tlsVerifier struct {
	trust    *tlsTrust
	host     string
	maxDepth int
}

// newSyslogTLSConfig returns the client config of a syslog+tls drain and
// its verifier (nil when verification is off).
func newSyslogTLSConfig(o *Options, u *config.DrainURL) (*tls.Config, *tlsVerifier, error) {
	cfg := &tls.Config{
		MinVersion:         tls.VersionTLS12,
		ServerName:         u.Host,
		InsecureSkipVerify: true, // verification is v.verify's, or off
	}
	if u.Insecure || o.TLSInsecure {
		return cfg, nil, nil
	}
	trust, err := loadTLSTrust(o.TLSCAFile, o.TLSPinnedCerts)
	if err != nil {
		return nil, nil, err
	}
	v := &tlsVerifier{trust: trust, host: u.Host, maxDepth: o.TLSMaxDepth}
	cfg.VerifyConnection = v.verify
	return cfg, v, nil
}

// tlsVerifyError is a certificate the drain rejected (it sent the endpoint a
// bad_certificate alert).
type tlsVerifyError struct{ err error }

func (e *tlsVerifyError) Error() string { return "bad certificate: " + e.err.Error() }
func (e *tlsVerifyError) Unwrap() error { return e.err }

var errTLSDepth = errors.New("certificate chain exceeds the maximum depth")

// verify accepts the presented chain if it leads to a trusted root, or to a
// presented certificate whose key is pinned, within maxDepth intermediates,
// and names the host.
func (v *tlsVerifier) verify(cs tls.ConnectionState) error {
	certs := cs.PeerCertificates
	if len(certs) == 0 {
		return &tlsVerifyError{errors.New("no certificate")}
	}
	err := v.verifyChain(v.trust.roots, certs[0], certs[1:])
	for i := 0; err != nil && i < len(certs); i++ {
		if !v.pinned(certs[i]) {
			continue
		}
		anchor := x509.NewCertPool()
		anchor.AddCert(certs[i])
		if v.verifyChain(anchor, certs[0], certs[min(1, i):i]) == nil { // certs[1:i]; none when the leaf is pinned
			return nil
		}
	}
	if err != nil {
		return &tlsVerifyError{err}
	}
	return nil
}

func (v *tlsVerifier) verifyChain(roots *x509.CertPool, leaf *x509.Certificate, inter []*x509.Certificate) error {
	pool := x509.NewCertPool()
	for _, c := range inter {
		pool.AddCert(c)
	}
	chains, err := leaf.Verify(x509.VerifyOptions{Roots: roots, Intermediates: pool, DNSName: v.host})
	if err != nil {
		return err
	}
	for _, ch := range chains {
		if len(ch)-2 <= v.maxDepth { // leaf, intermediates, trusted
			return nil
		}
	}
	return errTLSDepth
}

func (v *tlsVerifier) pinned(c *x509.Certificate) bool {
	for _, k := range v.trust.pinned {
		if bytes.Equal(k, c.RawSubjectPublicKeyInfo) {
			return true
		}
	}
	return false
}

// tlsHandshakeError is a TLS handshake that failed after the TCP connect.
type tlsHandshakeError struct{ err error }

func (e *tlsHandshakeError) Error() string { return "tls handshake: " + e.err.Error() }
func (e *tlsHandshakeError) Unwrap() error { return e.err }

// tlsAlertText reports whether a connect failed on a TLS alert, i.e. the
// handshake failed other than by a timeout or the connection breaking (a
// certificate this side rejected, an alert the endpoint sent, a protocol
// mismatch), and the alert's text for L14 with quotes and line breaks
// replaced.
func tlsAlertText(err error) (string, bool) {
	var he *tlsHandshakeError
	if !errors.As(err, &he) || isConnBroken(he.err) {
		return "", false
	}
	text := strings.TrimPrefix(he.err.Error(), "tls: ")
	var ve *tlsVerifyError
	var cve *tls.CertificateVerificationError
	var oe *net.OpError
	switch {
	case errors.As(err, &ve):
		text = ve.Error()
	case errors.As(err, &cve):
		text = "bad certificate: " + cve.Err.Error()
	case errors.As(err, &oe) && oe.Op == "remote error":
		text = strings.TrimPrefix(oe.Err.Error(), "tls: ")
	}
	return strings.NewReplacer(`"`, `'`, "\n", " ", "\r", " ").Replace(text), true
}

// isConnBroken reports a handshake that ended by timeout, cancellation or
// the connection closing rather than by an alert.
func isConnBroken(err error) bool {
	var ne net.Error
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, net.ErrClosed) ||
		errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) ||
		(errors.As(err, &ne) && ne.Timeout())
}
