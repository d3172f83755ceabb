package e2e

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/base64"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestHostileClients is fault scenario 5: garbage on every input. After all
// of it the process is alive, nothing answered 500, and a well-behaved
// sender's messages still arrive.
func TestHostileClients(t *testing.T) {
	p := StartAll(t, binPath, t.TempDir(), "--max-logs-body-bytes", "10000000")
	ch, tok := createChannel(t, p, "app")
	malformed0 := Metric(t, p.Adm, "logplex_message_received_malformed_total")

	t.Run("random bytes", func(t *testing.T) {
		rng := rand.New(rand.NewPCG(7, 7))
		junk := make([]byte, 1<<20)
		for i := range junk {
			junk[i] = byte(rng.IntN(256))
		}
		writeAndClose(t, p.Syslog, junk)
	})
	t.Run("huge frame length", func(t *testing.T) {
		writeAndClose(t, p.Syslog, []byte("99999999999 <134>1 never ends\n"))
	})
	t.Run("frame that never completes", func(t *testing.T) {
		c, err := net.Dial("tcp", p.Syslog)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		fmt.Fprint(c, "10240 <134>1 2012-12-10T03:00:48Z h "+tok+" p - - ")
		fmt.Fprint(c, strings.Repeat("x", 5000)) // and then nothing
	})
	t.Run("10000 idle connections", func(t *testing.T) {
		var rl syscall.Rlimit
		if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err == nil && rl.Cur < 25000 {
			rl.Cur = min(rl.Max, 25000)
			_ = syscall.Setrlimit(syscall.RLIMIT_NOFILE, &rl)
		}
		conns := make([]net.Conn, 0, 10000)
		defer func() {
			for _, c := range conns {
				c.Close()
			}
		}()
		for range 10000 {
			c, err := net.Dial("tcp", p.Syslog)
			if err != nil {
				t.Fatalf("after %d connections: %v", len(conns), err)
			}
			conns = append(conns, c)
		}
		Eventually(t, 10*time.Second, "10000 connections open", func() bool {
			return Metric(t, p.Adm, "logplex_tcp_connections") >= 10000
		})
		t.Logf("10000 idle connections: RSS %s", rss(t, p))
	})
	t.Run("slowloris", func(t *testing.T) {
		c, err := net.Dial("tcp", p.Logs)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		fmt.Fprint(c, "POST /logs HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n")
		// never finish the headers; other clients must still be served:
		r := Do(t, "GET", "http://"+p.Logs+"/healthcheck", "", "", nil, nil)
		if r.Status != 200 {
			t.Fatalf("healthcheck during slowloris: %d", r.Status)
		}
	})
	t.Run("100 MB body", func(t *testing.T) {
		// announce 100 MB and start sending: the answer must be 413 before
		// the body is read (the server may close while we are still writing)
		c, err := net.Dial("tcp", p.Logs)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		auth := base64.StdEncoding.EncodeToString([]byte("token:" + tok))
		fmt.Fprintf(c, "POST /logs HTTP/1.1\r\nHost: x\r\nAuthorization: Basic %s\r\nContent-Type: application/logplex-1\r\nContent-Length: %d\r\n\r\n", auth, 100<<20)
		go func() { c.Write(bytes.Repeat([]byte("x"), 1<<20)) }()
		c.SetReadDeadline(time.Now().Add(10 * time.Second))
		line, err := bufio.NewReader(c).ReadString('\n')
		if err != nil || !strings.HasPrefix(line, "HTTP/1.1 413") {
			t.Fatalf("100 MB body: %q %v, want a 413 status line", line, err)
		}
	})
	t.Run("gzip bomb", func(t *testing.T) {
		var gz bytes.Buffer
		w, _ := gzip.NewWriterLevel(&gz, gzip.BestCompression)
		w.Write(bytes.Repeat([]byte("0"), 200<<20))
		w.Close()
		if status := postRaw(t, p, tok, gz.Bytes(), "gzip"); status != 413 {
			t.Fatalf("gzip bomb (%d bytes -> 200 MB): %d, want 413", gz.Len(), status)
		}
	})

	if m := Metric(t, p.Adm, "logplex_message_received_malformed_total"); m <= malformed0 {
		t.Fatalf("garbage was not counted as malformed (%v -> %v)", malformed0, m)
	}
	c, err := net.Dial("tcp", p.Syslog)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprint(c, Frame(fmt.Sprintf("<134>1 2012-12-10T03:00:48.123456Z h %s web.1 - - still alive", tok)))
	c.Close()
	Eventually(t, 5*time.Second, "a good sender is still served", func() bool {
		return strings.Contains(session(t, p, `{"channel_id":"`+ch+`"}`).Body, "still alive")
	})
	if strings.Contains(p.Output(), "panic") {
		t.Fatalf("the process logged a panic:\n%s", p.Output())
	}
}

func writeAndClose(t *testing.T, addr string, b []byte) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Write(b); err != nil {
		t.Fatal(err)
	}
}

// postRaw posts body to /logs and returns the status; a connection closed by
// the server before it answered counts as 413 only if it answered so.
func postRaw(t *testing.T, p *Proc, tok string, body []byte, encoding string) int {
	t.Helper()
	req, _ := http.NewRequest("POST", "http://"+p.Logs+"/logs", bytes.NewReader(body))
	req.SetBasicAuth("token", tok)
	req.Header.Set("Content-Type", "application/logplex-1")
	if encoding != "" {
		req.Header.Set("Content-Encoding", encoding)
	}
	res, err := (&http.Client{Timeout: 30 * time.Second}).Do(req)
	if err != nil {
		t.Fatalf("POST /logs: %v", err)
	}
	io.Copy(io.Discard, res.Body)
	res.Body.Close()
	return res.StatusCode
}

// rss returns the process's resident set size as text.
func rss(t *testing.T, p *Proc) string {
	t.Helper()
	return fmt.Sprintf("%.1f MiB", Metric(t, p.Adm, "process_resident_memory_bytes")/(1<<20))
}
