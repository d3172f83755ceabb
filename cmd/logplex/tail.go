package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
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
"heroku logs --tail", until Ctrl-C. The credential comes from --user and
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

// tail creates a tail session and copies it to stdout until it ends or ctx
// is cancelled.
func tail(ctx context.Context, o tailOptions, stdout, stderr io.Writer) error {
	auth, err := o.authorization()
	if err != nil {
		return err
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
		return fmt.Errorf("GET session: %s: %s", res.Status, strings.TrimSpace(string(b)))
	}
	if w := res.Header.Get("X-Heroku-Warning"); w != "" {
		fmt.Fprintln(stderr, "logplex tail:", w)
	}
	fmt.Fprintf(stderr, "logplex tail: streaming channel %s (Ctrl-C to stop)\n", o.channel)
	if _, err := io.Copy(stdout, res.Body); err != nil && ctx.Err() == nil {
		return fmt.Errorf("stream: %w", err)
	}
	if ctx.Err() == nil {
		fmt.Fprintln(stderr, "logplex tail: the server ended the session")
	}
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
	base, err := url.Parse(strings.TrimSuffix(o.api, "/"))
	if err != nil || (base.Scheme != "http" && base.Scheme != "https") || base.Host == "" {
		return "", fmt.Errorf("--api %q: want http(s)://host[:port]", o.api)
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
		return "", fmt.Errorf("create session: %s: %s", res.Status, strings.TrimSpace(string(rb)))
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
