package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"hash/fnv"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"
)

const tailUsage = `usage:
  logplex tail --api URL --channel ID [--ps PS] [--source SOURCE] [--num N] [--user U --password P]

Prints the channel's recent history, then its live messages, like
"heroku logs --tail", until Ctrl-C. When the stream breaks (a control
plane stopped or died, the network failed) it reconnects with backoff
(0.25 s doubling to 10 s), skips the lines it already printed and says on
stderr when messages may be missing; it exits 1 when the channel does not
exist (or no longer does) or the credential is refused. The credential comes from --user and
--password, else LOGPLEX_TAIL_USER and LOGPLEX_TAIL_PASSWORD, else the
master key LOGPLEX_AUTH_KEY. --api defaults to LOGPLEX_API_ENDPOINT_URL,
else http://localhost:8001.

Flags:
`

// tailOptions are the flags of `logplex tail`.
type tailOptions struct {
	api, channel, ps, source string
	num                      int
	user, password, authKey  string
	reconnect                bool
}

// runTail implements `logplex tail` and returns the exit status: 0 when
// the stream ends or the user interrupts it, 1 on failure, 2 on usage.
func runTail(args []string, stdout, stderr io.Writer) int {
	var o tailOptions
	fs := flag.NewFlagSet("logplex tail", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, tailUsage); fs.PrintDefaults() }
	fs.StringVar(&o.api, "api", envOr("LOGPLEX_API_ENDPOINT_URL", "http://localhost:8001"), "legacy API base URL of a control plane")
	fs.StringVar(&o.channel, "channel", "", "channel id to tail (required)")
	fs.StringVar(&o.ps, "ps", "", "only processes named PS or PS.<n> (e.g. web)")
	fs.StringVar(&o.source, "source", "", "only messages from this source (token name, e.g. app)")
	fs.IntVar(&o.num, "num", 100, "history lines printed first")
	fs.StringVar(&o.user, "user", os.Getenv("LOGPLEX_TAIL_USER"), "credential id (env LOGPLEX_TAIL_USER)")
	fs.StringVar(&o.password, "password", os.Getenv("LOGPLEX_TAIL_PASSWORD"), "credential password (env LOGPLEX_TAIL_PASSWORD)")
	fs.BoolVar(&o.reconnect, "reconnect", true, "reconnect when the stream breaks (false: exit)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	o.authKey = os.Getenv("LOGPLEX_AUTH_KEY")
	if o.channel == "" || o.num < 0 || fs.NArg() > 0 {
		fs.Usage()
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	err := tail(ctx, o, stdout, stderr)
	if ctx.Err() != nil { // Ctrl-C: a normal way to stop
		return 0
	}
	if err != nil {
		fmt.Fprintln(stderr, "logplex tail:", err)
		return 1
	}
	return 0
}

// tail creates a tail session and copies it to stdout until ctx is
// cancelled; a broken stream is resumed (o.reconnect) until a permanent
// refusal.
func tail(ctx context.Context, o tailOptions, stdout, stderr io.Writer) error {
	auth, err := o.authorization()
	if err != nil {
		return err
	}
	p := newLinePrinter(stdout)
	backoff := minBackoff
	for attempt := 0; ; attempt++ {
		started := time.Now()
		err := tailOnce(ctx, o, auth, p, stderr, attempt > 0)
		if ctx.Err() != nil {
			return nil
		}
		var perm permanentError
		if errors.As(err, &perm) || (attempt == 0 && err != nil && !p.connected) || !o.reconnect {
			if err == nil && !o.reconnect {
				fmt.Fprintln(stderr, "logplex tail: the server ended the session")
			}
			return err
		}
		if time.Since(started) > 10*time.Second {
			backoff = minBackoff
		}
		why := "the server ended the session"
		if err != nil {
			why = err.Error()
		}
		fmt.Fprintf(stderr, "logplex tail: %s; reconnecting in %s\n", why, backoff)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, maxBackoff)
	}
}

const minBackoff, maxBackoff = 250 * time.Millisecond, 10 * time.Second

// permanentError ends `logplex tail`: retrying cannot help.
type permanentError struct{ error }

// tailOnce checks the channel, creates a session and copies its stream;
// resume asks for a longer history, to overlap what was printed.
func tailOnce(ctx context.Context, o tailOptions, auth string, p *linePrinter, stderr io.Writer, resume bool) error {
	if err := checkChannel(ctx, o, auth); err != nil {
		return err
	}
	if resume {
		o.num = max(o.num, resumeHistory)
	}
	sessionURL, err := createTailSession(ctx, o, auth)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, "GET", sessionURL, nil)
	if err != nil {
		return err
	}
	res, err := streamClient.Do(req)
	if err != nil {
		return fmt.Errorf("GET session: %w", err)
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(res.Body, 4096))
		return classify(res.StatusCode, fmt.Errorf("GET session: %s: %s", res.Status, strings.TrimSpace(string(b))))
	}
	if w := res.Header.Get("X-Heroku-Warning"); w != "" && !p.connected {
		fmt.Fprintln(stderr, "logplex tail:", w)
	}
	if resume {
		p.resume(stderr)
	} else {
		fmt.Fprintf(stderr, "logplex tail: streaming channel %s (Ctrl-C to stop)\n", o.channel)
	}
	p.connected = true
	if err := p.copy(res.Body); err != nil && ctx.Err() == nil {
		return fmt.Errorf("stream: %w", err)
	}
	return nil
}

// resumeHistory is the history asked for when resuming (Logplex's
// default history length): the more it overlaps what was printed, the
// smaller the gap.
const resumeHistory = 1500

// classify makes 4xx answers permanent, except 408 and 429.
func classify(status int, err error) error {
	if status >= 400 && status < 500 && status != http.StatusRequestTimeout && status != http.StatusTooManyRequests {
		return permanentError{err}
	}
	return err
}

// checkChannel is GET /v2/channels/<id>: a channel that does not exist
// ends the tail (a session on it would stream nothing, forever). A
// credential that may not read channels, or any other answer, is left
// to the session request.
func checkChannel(ctx context.Context, o tailOptions, auth string) error {
	base, err := apiBase(o.api)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, "GET", base.String()+"/v2/channels/"+url.PathEscape(o.channel), nil)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", auth)
	res, err := streamClient.Do(req)
	if err != nil {
		return fmt.Errorf("check channel: %w", err)
	}
	res.Body.Close()
	if res.StatusCode == http.StatusNotFound {
		return permanentError{fmt.Errorf("channel %s does not exist", o.channel)}
	}
	return nil
}

func apiBase(api string) (*url.URL, error) {
	base, err := url.Parse(strings.TrimSuffix(api, "/"))
	if err != nil || (base.Scheme != "http" && base.Scheme != "https") || base.Host == "" {
		return nil, permanentError{fmt.Errorf("--api %q: want http(s)://host[:port]", api)}
	}
	return base, nil
}

// linePrinter copies whole lines to w and remembers the last ones printed,
// so a resumed stream (history, then live) skips what was already shown.
type linePrinter struct {
	w         io.Writer
	seen      map[uint64]int // hash -> copies among the last lines printed
	ring      []uint64       // their hashes; next is the oldest once full
	next      int
	last      string    // the last line printed, for the gap notice
	skipping  bool      // resumed: skip lines already printed until a new one
	overlap   bool      // resumed: the history held a line already printed
	notes     io.Writer // where resume notices go (stderr)
	connected bool      // a stream was opened once
}

func newLinePrinter(w io.Writer) *linePrinter {
	return &linePrinter{w: w, seen: map[uint64]int{}, ring: make([]uint64, 0, resumeHistory)}
}

// resume starts skipping lines already printed; the first new line tells
// whether the resumed history reached back to what was printed.
func (p *linePrinter) resume(notes io.Writer) {
	p.notes, p.overlap = notes, false
	p.skipping = len(p.ring) > 0
	if !p.skipping {
		fmt.Fprintln(notes, "logplex tail: reconnected")
	}
}

// copy prints the lines of r until it ends; a partial last line is dropped
// (the resumed stream's history holds it).
func (p *linePrinter) copy(r io.Reader) error {
	br := bufio.NewReaderSize(r, 64<<10)
	for {
		line, err := br.ReadSlice('\n')
		for err == bufio.ErrBufferFull { // an overlong line: print it as it comes
			if _, werr := p.w.Write(line); werr != nil {
				return werr
			}
			line, err = br.ReadSlice('\n')
		}
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		if err := p.print(line); err != nil {
			return err
		}
	}
}

func (p *linePrinter) print(line []byte) error {
	h := fnv.New64a()
	h.Write(line)
	sum := h.Sum64()
	if p.skipping {
		if p.seen[sum] > 0 {
			p.overlap = true
			return nil
		}
		p.skipping = false
		if p.overlap {
			fmt.Fprintln(p.notes, "logplex tail: reconnected; the history covered the break")
		} else {
			fmt.Fprintf(p.notes, "logplex tail: reconnected; messages after %q and before %q may be missing\n",
				strings.TrimSpace(p.last), strings.TrimSpace(string(line)))
		}
	}
	if _, err := p.w.Write(line); err != nil {
		return err
	}
	if len(p.ring) < cap(p.ring) {
		p.ring = append(p.ring, sum)
	} else {
		old := p.ring[p.next]
		if p.seen[old]--; p.seen[old] <= 0 {
			delete(p.seen, old)
		}
		p.ring[p.next] = sum
		p.next = (p.next + 1) % len(p.ring)
	}
	p.seen[sum]++
	p.last = string(line)
	return nil
}

// authorization is the Authorization header: a credential as HTTP Basic,
// or the master key raw (as Logplex's clients send it).
func (o tailOptions) authorization() (string, error) {
	switch {
	case o.user != "":
		return "Basic " + base64.StdEncoding.EncodeToString([]byte(o.user+":"+o.password)), nil
	case o.authKey != "":
		return "Basic " + o.authKey, nil
	}
	return "", errors.New("no credential: give --user and --password (or LOGPLEX_TAIL_USER and LOGPLEX_TAIL_PASSWORD, or LOGPLEX_AUTH_KEY)")
}

// createTailSession is POST /v2/sessions with "tail"; it returns the URL
// to GET (resolved against --api when the server answers a path).
func createTailSession(ctx context.Context, o tailOptions, auth string) (string, error) {
	base, err := apiBase(o.api)
	if err != nil {
		return "", err
	}
	body := map[string]any{"channel_id": o.channel, "num": strconv.Itoa(o.num), "tail": true}
	if o.ps != "" {
		body["ps"] = o.ps
	}
	if o.source != "" {
		body["source"] = o.source
	}
	b, _ := json.Marshal(body)
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, "POST", base.String()+"/v2/sessions", bytes.NewReader(b))
	if err != nil {
		return "", err
	}
	req.Header.Set("Authorization", auth)
	req.Header.Set("Content-Type", "application/json")
	res, err := streamClient.Do(req)
	if err != nil {
		return "", fmt.Errorf("create session: %w", err)
	}
	defer res.Body.Close()
	rb, _ := io.ReadAll(io.LimitReader(res.Body, 64<<10))
	if res.StatusCode != http.StatusCreated {
		return "", classify(res.StatusCode, fmt.Errorf("create session: %s: %s", res.Status, strings.TrimSpace(string(rb))))
	}
	var created struct {
		URL string `json:"url"`
	}
	if err := json.Unmarshal(rb, &created); err != nil || created.URL == "" {
		return "", fmt.Errorf("create session: unexpected answer %q", rb)
	}
	u, err := base.Parse(created.URL)
	if err != nil {
		return "", fmt.Errorf("create session: bad url %q: %w", created.URL, err)
	}
	return u.String(), nil
}

// streamClient has no overall timeout (a tail runs until stopped), but
// bounds connecting and waiting for response headers.
var streamClient = &http.Client{Transport: &http.Transport{
	Proxy:                 http.ProxyFromEnvironment,
	DialContext:           (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
	TLSHandshakeTimeout:   10 * time.Second,
	ResponseHeaderTimeout: 30 * time.Second,
	DisableCompression:    true,
}}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}
