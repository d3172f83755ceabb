package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"time"
)

// API calls the router's v2 API with a full_api credential.
type API struct {
	base       string // http://host:port
	user, pass string
	c          *http.Client
}

// NewAPI returns a client for the API at addr (host:port).
func NewAPI(addr, user, pass string, conns int) *API {
	tr := &http.Transport{MaxIdleConnsPerHost: conns, MaxConnsPerHost: conns, DisableCompression: true}
	return &API{base: "http://" + addr, user: user, pass: pass, c: &http.Client{Transport: tr, Timeout: 30 * time.Second}}
}

func (a *API) do(ctx context.Context, method, path string, body any, want int, out any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, a.base+path, rd)
	if err != nil {
		return err
	}
	req.SetBasicAuth(a.user, a.pass)
	req.Header.Set("Content-Type", "application/json")
	for attempt := 0; ; attempt++ {
		res, err := a.c.Do(req)
		if err != nil {
			return fmt.Errorf("%s %s: %w", method, path, err)
		}
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		// 503: still booting. 401 right after start: on Redis the bootstrap
		// credential can reach the API's snapshot a moment after the banner.
		if (res.StatusCode == http.StatusServiceUnavailable || res.StatusCode == http.StatusUnauthorized) && attempt < 50 {
			time.Sleep(100 * time.Millisecond)
			if body != nil {
				req.Body = io.NopCloser(bytes.NewReader(mustJSON(body)))
			}
			continue
		}
		if res.StatusCode != want {
			return fmt.Errorf("%s %s: %s: %s", method, path, res.Status, bytes.TrimSpace(b))
		}
		if out != nil {
			if err := json.Unmarshal(b, out); err != nil {
				return fmt.Errorf("%s %s: answer %q: %w", method, path, b, err)
			}
		}
		return nil
	}
}

func mustJSON(v any) []byte {
	b, _ := json.Marshal(v)
	return b
}

// CreateChannel makes a channel with the named tokens and returns its id and
// the token ids by name.
func (a *API) CreateChannel(ctx context.Context, names []string) (int, map[string]string, error) {
	var out struct {
		ID     int               `json:"channel_id"`
		Tokens map[string]string `json:"tokens"`
	}
	err := a.do(ctx, "POST", "/channels", map[string]any{"tokens": names}, http.StatusCreated, &out)
	if err != nil {
		return 0, nil, err
	}
	return out.ID, out.Tokens, nil
}

// CreateDrain adds a drain with url (and optional compression) to channel ch
// and returns its drain token.
func (a *API) CreateDrain(ctx context.Context, ch int, drainURL, compression string) (string, error) {
	body := map[string]any{"url": drainURL}
	if compression != "" {
		body["compression"] = compression
	}
	var out struct {
		ID    int64  `json:"id"`
		Token string `json:"token"`
	}
	if err := a.do(ctx, "POST", "/v2/channels/"+strconv.Itoa(ch)+"/drains", body, http.StatusCreated, &out); err != nil {
		return "", err
	}
	return out.Token, nil
}

// CreateToken adds a token named name to channel ch and returns its id.
func (a *API) CreateToken(ctx context.Context, ch int, name string) (string, error) {
	var out struct {
		Token string `json:"token"`
	}
	if err := a.do(ctx, "POST", "/v2/channels/"+strconv.Itoa(ch)+"/tokens", map[string]any{"name": name}, http.StatusCreated, &out); err != nil {
		return "", err
	}
	if out.Token == "" {
		return "", fmt.Errorf("POST /v2/channels/%d/tokens: no token in the answer", ch)
	}
	return out.Token, nil
}

// CreateTailSession opens a tail session on channel ch (no history) and
// returns its URL, pointed at the API address actually used.
func (a *API) CreateTailSession(ctx context.Context, ch int) (string, error) {
	var out struct {
		URL string `json:"url"`
	}
	body := map[string]any{"channel_id": strconv.Itoa(ch), "num": "0", "tail": true}
	if err := a.do(ctx, "POST", "/v2/sessions", body, http.StatusCreated, &out); err != nil {
		return "", err
	}
	u, err := url.Parse(out.URL)
	if err != nil {
		return "", fmt.Errorf("session url %q: %w", out.URL, err)
	}
	base, _ := url.Parse(a.base)
	u.Scheme, u.Host = base.Scheme, base.Host
	return u.String(), nil
}

// DeleteChannel removes channel ch (used in --target mode to clean up).
func (a *API) DeleteChannel(ctx context.Context, ch int) error {
	return a.do(ctx, "DELETE", "/v2/channels/"+strconv.Itoa(ch), nil, http.StatusOK, nil)
}

// parallel runs fn(i) for i in [0, n) on workers goroutines and returns the
// first error.
func parallel(ctx context.Context, n, workers int, fn func(ctx context.Context, i int) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		mu    sync.Mutex
		first error
		next  int
		wg    sync.WaitGroup
	)
	for range min(workers, n) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				mu.Lock()
				i := next
				next++
				stop := first != nil
				mu.Unlock()
				if stop || i >= n || ctx.Err() != nil {
					return
				}
				if err := fn(ctx, i); err != nil {
					mu.Lock()
					if first == nil {
						first = err
					}
					mu.Unlock()
					cancel()
					return
				}
			}
		}()
	}
	wg.Wait()
	return first
}
