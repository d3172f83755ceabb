package drain

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/logplex/logplex/config"
	"github.com/logplex/logplex/frame"
)

// slCert is a certificate made by the test with its key.
type slCert struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
}

var slSerial atomic.Int64

// slIssue makes a certificate from tmpl signed by parent (self-signed when
// parent is nil), with key (a new one when nil).
func slIssue(t *testing.T, tmpl *x509.Certificate, parent *slCert, key *ecdsa.PrivateKey) *slCert {
	t.Helper()
	if key == nil {
		var err error
		if key, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader); err != nil {
			t.Fatal(err)
		}
	}
	tmpl.SerialNumber = big.NewInt(slSerial.Add(1))
	tmpl.NotBefore, tmpl.NotAfter = time.Now().Add(-time.Hour), time.Now().Add(time.Hour)
	signer, signerCert := key, tmpl
	if parent != nil {
		signer, signerCert = parent.key, parent.cert
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, signerCert, &key.PublicKey, signer)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return &slCert{cert: c, key: key}
}

func slCA(t *testing.T, name string, parent *slCert) *slCert {
	return slIssue(t, &x509.Certificate{Subject: pkix.Name{CommonName: name}, IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature}, parent, nil)
}

// slLeaf is a server certificate for dns names, or for 127.0.0.1 when none.
func slLeaf(t *testing.T, parent *slCert, dns ...string) *slCert {
	tmpl := &x509.Certificate{Subject: pkix.Name{CommonName: "endpoint"}, DNSNames: dns,
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	if len(dns) == 0 {
		tmpl.IPAddresses = []net.IP{net.IPv4(127, 0, 0, 1)}
	}
	return slIssue(t, tmpl, parent, nil)
}

func slPEM(cs ...*slCert) string {
	var b strings.Builder
	for _, c := range cs {
		pem.Encode(&b, &pem.Block{Type: "CERTIFICATE", Bytes: c.cert.Raw})
	}
	return b.String()
}

func slCAFile(t *testing.T, cs ...*slCert) string {
	p := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(p, []byte(slPEM(cs...)), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// slServerTLS presents leaf followed by chain.
func slServerTLS(leaf *slCert, chain ...*slCert) *tls.Config {
	c := tls.Certificate{Certificate: [][]byte{leaf.cert.Raw}, PrivateKey: leaf.key}
	for _, x := range chain {
		c.Certificate = append(c.Certificate, x.cert.Raw)
	}
	return &tls.Config{Certificates: []tls.Certificate{c}}
}

// docs/logplex.md §10 case 79 over TLS: a trusted certificate; the frame is the same
// as over TCP, byte for byte.
func TestTLSFramingGolden(t *testing.T) {
	root := slCA(t, "root", nil)
	e := newSLEndpoint(t, slServerTLS(slLeaf(t, root)))
	r := startSL(t, Options{TLSCAFile: slCAFile(t, root)}, slURL("syslog+tls", e), time.Second)
	r.push([]byte(specInput))
	slWaitFor(t, 5*time.Second, "a frame", func() bool { return len(e.Frames()) == 1 })
	if got := e.Frames()[0]; got != specSyslogFrame {
		t.Errorf("frame\n got %q\nwant %q", got, specSyslogFrame)
	}
}

// slNotices collects L14 notices with the number of connections the
// endpoint had accepted when each arrived.
type slNotices struct {
	mu      sync.Mutex
	msgs    []string
	accepts []int64
}

func (n *slNotices) get() ([]string, []int64) {
	n.mu.Lock()
	defer n.mu.Unlock()
	return append([]string(nil), n.msgs...), append([]int64(nil), n.accepts...)
}

// docs/logplex.md §10 cases 85–87 and pinning: a certificate the drain must reject
// delivers nothing and raises L14 from the 2nd consecutive failure on; an
// accepted one delivers.
func TestTLSVerification(t *testing.T) {
	root := slCA(t, "root", nil)
	inter := slCA(t, "intermediate", root)
	other := slCA(t, "other root", nil)
	// A different certificate with the intermediate's key: pins match keys.
	interTwin := slIssue(t, &x509.Certificate{Subject: pkix.Name{CommonName: "twin"}, IsCA: true,
		BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}, nil, inter.key)
	viaInter := slLeaf(t, inter)
	untrusted := slLeaf(t, other)
	cases := []struct {
		name   string
		server *tls.Config
		opts   Options
		host   string // default 127.0.0.1
		frag   string
		depth  int // -1: default
		err    string
	}{
		{name: "trusted chain", server: slServerTLS(viaInter, inter), opts: Options{TLSCAFile: slCAFile(t, root)}, depth: -1},
		{name: "85 hostname", server: slServerTLS(slLeaf(t, root, "server")), opts: Options{TLSCAFile: slCAFile(t, root)}, host: "localhost", depth: -1,
			err: "bad certificate: x509: certificate is valid for server, not localhost"},
		{name: "85 hostname, IP", server: slServerTLS(slLeaf(t, root, "server")), opts: Options{TLSCAFile: slCAFile(t, root)}, depth: -1,
			err: "bad certificate: x509: cannot validate certificate for 127.0.0.1 because it doesn't contain any IP SANs"},
		{name: "86 untrusted CA", server: slServerTLS(untrusted), opts: Options{TLSCAFile: slCAFile(t, root)}, depth: -1,
			err: "bad certificate: x509: certificate signed by unknown authority"},
		{name: "86 max depth 0", server: slServerTLS(viaInter, inter), opts: Options{TLSCAFile: slCAFile(t, root)}, depth: 0,
			err: "bad certificate: certificate chain exceeds the maximum depth"},
		{name: "87 insecure fragment", server: slServerTLS(untrusted), opts: Options{TLSCAFile: slCAFile(t, root)}, frag: "#insecure", depth: 0},
		{name: "tls_mode insecure", server: slServerTLS(slLeaf(t, other, "server")), opts: Options{TLSInsecure: true}, depth: -1},
		{name: "pinned intermediate", server: slServerTLS(viaInter, inter), opts: Options{TLSPinnedCerts: slPEM(interTwin)}, depth: -1},
		{name: "pinned leaf", server: slServerTLS(untrusted), opts: Options{TLSPinnedCerts: slPEM(untrusted)}, depth: -1},
		{name: "pinned, wrong host", server: slServerTLS(slLeaf(t, inter, "server"), inter), opts: Options{TLSPinnedCerts: slPEM(inter)}, host: "localhost", depth: -1,
			err: "bad certificate: x509: certificate is valid for server, not localhost"},
		{name: "endpoint alert", server: &tls.Config{Certificates: slServerTLS(slLeaf(t, root)).Certificates,
			ClientAuth: tls.RequireAnyClientCert, MaxVersion: tls.VersionTLS12}, opts: Options{TLSCAFile: slCAFile(t, root)}, depth: -1,
			err: "handshake failure"},
		{name: "TLS 1.1 endpoint", server: &tls.Config{Certificates: slServerTLS(slLeaf(t, root)).Certificates,
			MinVersion: tls.VersionTLS10, MaxVersion: tls.VersionTLS11}, opts: Options{TLSCAFile: slCAFile(t, root)}, depth: -1,
			err: "protocol version not supported"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := newSLEndpoint(t, c.server)
			var n slNotices
			c.opts.Notify = func(ch string, msg []byte) {
				n.mu.Lock()
				defer n.mu.Unlock()
				if ch != "app-ch" {
					t.Errorf("notice for channel %q", ch)
				}
				n.msgs = append(n.msgs, string(msg))
				n.accepts = append(n.accepts, e.accepted.Load())
			}
			addr := e.Addr()
			if c.host != "" {
				_, port, _ := net.SplitHostPort(addr)
				addr = net.JoinHostPort(c.host, port)
			}
			url := "syslog+tls://" + addr + "/" + c.frag
			r := newSLDrain(t, c.opts, url, 20*time.Millisecond)
			if c.depth >= 0 && r.s.verify != nil {
				r.s.verify.maxDepth = c.depth
			}
			r.start()
			r.push(slMsg(0))
			if c.err == "" {
				slWaitFor(t, 5*time.Second, "delivery", func() bool { return len(e.Frames()) == 1 })
				if msgs, _ := n.get(); len(msgs) != 0 {
					t.Errorf("notices %q, want none", msgs)
				}
				return
			}
			slWaitFor(t, 5*time.Second, "an L14 notice", func() bool { msgs, _ := n.get(); return len(msgs) > 0 })
			msgs, accepts := n.get()
			if accepts[0] < 2 {
				t.Errorf("first L14 after %d connection(s), want the 2nd failure", accepts[0])
			}
			slCheckL14(t, msgs[0], c.err, url)
			if f := e.Frames(); len(f) != 0 {
				t.Errorf("delivered %q through a rejected connection", f)
			}
		})
	}
}

// slCheckL14 checks an L14 notice byte for byte (but the date) and the
// session line a tail prints for it (docs/logplex.md §3.4, §10 case 85).
func slCheckL14(t *testing.T, msg, alert, url string) {
	t.Helper()
	re := regexp.MustCompile(`^<188>1 (\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00) ` + regexp.QuoteMeta(slToken) +
		` heroku logplex - - Error L14 \(certificate validation\): error="` + regexp.QuoteMeta(alert) +
		`" uri="` + regexp.QuoteMeta(url) + `"\n$`)
	m := re.FindStringSubmatch(msg)
	if m == nil {
		t.Fatalf("L14 notice = %q\nwant  %s", msg, re)
	}
	f, ok := frame.ParseSession([]byte(msg))
	if !ok {
		t.Fatalf("session parser rejects %q", msg)
	}
	want := fmt.Sprintf("%s heroku[logplex]: Error L14 (certificate validation): error=%q uri=%q\n", m[1], alert, url)
	if got := string(frame.AppendSessionLine(nil, f)); got != want {
		t.Errorf("session line\n got %q\nwant %q", got, want)
	}
}

func TestTLSAlertText(t *testing.T) {
	cases := []struct {
		err  error
		text string
		ok   bool
	}{
		{&tlsHandshakeError{&tlsVerifyError{errors.New(`x509: "quoted"`)}}, `bad certificate: x509: 'quoted'`, true},
		{&tlsHandshakeError{&net.OpError{Op: "remote error", Err: tls.AlertError(40)}}, "handshake failure", true},
		{&tlsHandshakeError{errors.New("tls: server selected unsupported protocol version 302")}, "server selected unsupported protocol version 302", true},
		{&tlsHandshakeError{fmt.Errorf("read: %w", net.ErrClosed)}, "", false},
		{&tlsHandshakeError{os.ErrDeadlineExceeded}, "", false},
		{&net.OpError{Op: "dial", Err: errors.New("connection refused")}, "", false},
		{errPeerClosed, "", false},
	}
	for _, c := range cases {
		text, ok := tlsAlertText(c.err)
		if text != c.text || ok != c.ok {
			t.Errorf("tlsAlertText(%v) = %q, %v; want %q, %v", c.err, text, ok, c.text, c.ok)
		}
	}
}

func TestTLSBadTrustSettings(t *testing.T) {
	try := func(o Options, url string) error {
		o.setDefaults()
		u, err := config.ParseDrainURL(url)
		if err != nil {
			t.Fatal(err)
		}
		d := &Drain{Config: &config.Drain{ID: 900000 + slNextID.Add(1), ChannelID: "c", Token: slToken, URL: url}, URL: u}
		_, err = newSyslogSender(&o, d)
		if d.Stats != nil {
			d.Stats.remove()
		}
		return err
	}
	if err := try(Options{TLSCAFile: filepath.Join(t.TempDir(), "missing.pem")}, "syslog+tls://h:1/"); err == nil {
		t.Error("missing CA file accepted")
	}
	if err := try(Options{TLSPinnedCerts: "not PEM"}, "syslog+tls://h:1/"); err == nil {
		t.Error("garbage pinned certificates accepted")
	}
	if err := try(Options{TLSPinnedCerts: "not PEM"}, "syslog+tls://h:1/#insecure"); err != nil {
		t.Errorf("an insecure drain needs no trust settings: %v", err)
	}
}
