package ingest

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/VictoriaMetrics/metrics"
	"github.com/valyala/fasthttp"

	"github.com/logplex/logplex/config"
	"github.com/logplex/logplex/dataplane/route"
	"github.com/logplex/logplex/frame"
	"github.com/logplex/logplex/store"
)

// HTTPOptions configure the `POST /logs` listener.
type HTTPOptions struct {
	Addr           string        // listen address; default ":8601"
	MaxBodyBytes   int           // largest request body, encoded and decoded; default 8 MB (Logplex/cowboy's limit); larger: 413
	MaxConnections int           // concurrent connections; default 1024 (http_log_input_max_connections)
	ReadTimeout    time.Duration // whole request read; default 15 s
	IdleTimeout    time.Duration // keep-alive idle; default 60 s
	// Dedup remembers Logplex-Frame-Ids of accepted requests for FrameIDTTL
	// (default 10 min): a retry with a seen id is acknowledged (204) and not
	// routed again. nil: no de-duplication.
	Dedup      store.FrameDeduper
	FrameIDTTL time.Duration
	// InflightBudget is the body bytes all /logs requests being processed
	// may hold together; beyond it (or above 80% of GOMEMLIMIT) requests get
	// 503 with Retry-After before their body is read. Default 256 MiB.
	InflightBudget int64
	// ShutdownTimeout bounds the requests in flight when Run's ctx ends
	// (they finish; idle keep-alive connections are closed); default 5 s.
	ShutdownTimeout time.Duration
}

var (
	logsRequests = map[int]*metrics.Counter{}
	logsOther    = metrics.NewCounter(`logplex_logs_requests_total{code="other"}`)
)

func init() {
	for _, c := range []int{204, 400, 401, 403, 405, 406, 413, 415, 501, 503} {
		logsRequests[c] = metrics.NewCounter(fmt.Sprintf(`logplex_logs_requests_total{code="%d"}`, c))
	}
}

func countStatus(code int) {
	if c := logsRequests[code]; c != nil {
		c.Inc()
		return
	}
	logsOther.Inc()
}

// HTTP serves `POST /logs` and `GET /healthcheck` (spec §2.2, §4.4).
type HTTP struct {
	opts   HTTPOptions
	router *route.Router
	ready  func() bool
	log    *slog.Logger
	srv    *fasthttp.Server
	ln     net.Listener
	adm    *admission

	// DenyLogsIngress is the deny_logs_ingress control rod: /logs answers 503.
	DenyLogsIngress atomic.Bool
}

// NewHTTP binds the listener. ready reports whether config has loaded
// (healthcheck answers 503 SYSTEM BOOTING until it has).
func NewHTTP(opts HTTPOptions, router *route.Router, ready func() bool, log *slog.Logger) (*HTTP, error) {
	if opts.Addr == "" {
		opts.Addr = ":8601"
	}
	if opts.MaxBodyBytes <= 0 {
		opts.MaxBodyBytes = 8_000_000
	}
	if opts.MaxConnections <= 0 {
		opts.MaxConnections = 1024
	}
	if opts.ReadTimeout <= 0 {
		opts.ReadTimeout = 15 * time.Second
	}
	if opts.IdleTimeout <= 0 {
		opts.IdleTimeout = 60 * time.Second
	}
	if opts.FrameIDTTL <= 0 {
		opts.FrameIDTTL = 10 * time.Minute
	}
	if opts.InflightBudget <= 0 {
		opts.InflightBudget = 256 << 20
	}
	ln, err := net.Listen("tcp", opts.Addr)
	if err != nil {
		return nil, fmt.Errorf("http input listener %s: %w", opts.Addr, err)
	}
	h := &HTTP{opts: opts, router: router, ready: ready, log: log, ln: ln, adm: newAdmission(opts.InflightBudget, reservationLife)}
	h.srv = &fasthttp.Server{
		Handler:               h.serve,
		Name:                  "logplex",
		MaxRequestBodySize:    opts.MaxBodyBytes,
		Concurrency:           opts.MaxConnections,
		ReadTimeout:           opts.ReadTimeout,
		WriteTimeout:          opts.ReadTimeout,
		IdleTimeout:           opts.IdleTimeout,
		NoDefaultServerHeader: true,
		NoDefaultContentType:  true,
		ErrorHandler:          h.serveError,
		HeaderReceived:        h.adm.headerReceived,
		Logger:                fasthttpLogger{log},
	}
	return h, nil
}

// Addr is the bound address.
func (h *HTTP) Addr() net.Addr { return h.ln.Addr() }

// Run serves until ctx ends, then shuts down gracefully.
func (h *HTTP) Run(ctx context.Context) error {
	errc := make(chan error, 1)
	go func() { errc <- h.srv.Serve(h.ln) }()
	go h.adm.run(ctx)
	select {
	case <-ctx.Done():
		sctx, cancel := context.WithTimeout(context.Background(), cmp.Or(h.opts.ShutdownTimeout, 5*time.Second))
		defer cancel()
		if err := h.srv.ShutdownWithContext(sctx); err != nil {
			h.log.Warn("/logs requests still in flight at the shutdown timeout; closing them", "err", err)
		}
		return nil
	case err := <-errc:
		return err
	}
}

// serveError answers requests fasthttp could not read (too large, timeouts,
// garbage) with a clear 4xx instead of a 500.
func (h *HTTP) serveError(ctx *fasthttp.RequestCtx, err error) {
	h.adm.release(&ctx.Request.Header)
	if len(ctx.Request.Header.Peek(overloadMarker)) > 0 {
		refuse(ctx)
		return
	}
	switch {
	case errors.Is(err, fasthttp.ErrBodyTooLarge):
		respond(ctx, 413, "Request body too large")
	default:
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			respond(ctx, 408, "Request timeout")
			return
		}
		respond(ctx, 400, "Bad request")
	}
}

var (
	pathLogs        = []byte("/logs")
	pathLogsSlash   = []byte("/logs/")
	pathHealth      = []byte("/healthcheck")
	ctLogplex       = []byte("application/logplex-1")
	ctXLogplex      = []byte("application/x-logplex-1")
	encGzip         = []byte("gzip")
	hdrMsgCount     = []byte("Logplex-Msg-Count")
	knownMethods    = [][]byte{[]byte("HEAD"), []byte("GET"), []byte("POST"), []byte("PUT"), []byte("PATCH"), []byte("DELETE"), []byte("OPTIONS")}
	tokenUser       = "token"
	realmHeader     = "Basic realm=Logplex"
	credNotPermited = "Credential not permitted to write to any channel."
)

func (h *HTTP) serve(ctx *fasthttp.RequestCtx) {
	defer h.adm.release(&ctx.Request.Header)
	path := ctx.Path()
	switch {
	case bytes.Equal(path, pathHealth):
		h.health(ctx)
	case bytes.Equal(path, pathLogs) || bytes.Equal(path, pathLogsSlash):
		h.logs(ctx)
	default:
		ctx.SetStatusCode(404)
		countStatus(404)
	}
}

func (h *HTTP) health(ctx *fasthttp.RequestCtx) {
	if !h.ready() {
		ctx.SetStatusCode(503)
		ctx.SetBodyString("SYSTEM BOOTING")
		return
	}
	ctx.SetStatusCode(200)
	ctx.SetBodyString("OK")
}

// logs implements spec §2.2's decision order.
func (h *HTTP) logs(ctx *fasthttp.RequestCtx) {
	if h.DenyLogsIngress.Load() {
		status(ctx, 503)
		return
	}
	m := ctx.Method()
	if !knownMethod(m) {
		status(ctx, 501)
		return
	}
	if !ctx.IsPost() {
		ctx.Response.Header.Set("Allow", "POST")
		status(ctx, 405)
		return
	}
	snap := h.router.Snapshot()
	if snap == nil {
		ctx.Response.Header.Set("Retry-After", "1")
		respond(ctx, 503, "SYSTEM BOOTING")
		return
	}
	tok, ok := authorize(ctx, snap)
	if !ok {
		return
	}
	ct := ctx.Request.Header.ContentType()
	if !bytes.Equal(ct, ctLogplex) && !bytes.Equal(ct, ctXLogplex) {
		status(ctx, 415)
		return
	}
	if a := ctx.Request.Header.Peek("Accept"); len(a) > 0 && !acceptsText(a) {
		status(ctx, 406)
		return
	}
	body, ok := h.body(ctx)
	if !ok {
		return
	}
	h.route(ctx, body, tok)
}

// authorize checks Basic auth (spec §2.2.1): token auth returns the token;
// credential auth with any_channel returns nil, true. On failure it has
// written the response.
func authorize(ctx *fasthttp.RequestCtx, snap *config.Snapshot) (*config.Token, bool) {
	user, pass, _, ok := config.ParseBasic(string(ctx.Request.Header.Peek("Authorization")))
	if !ok {
		unauthorized(ctx)
		return nil, false
	}
	if user == tokenUser && len(pass) > 2 && pass[:2] == "t." {
		tok := snap.Token(pass)
		if tok == nil {
			route.CountUnknownToken(1)
			unauthorized(ctx)
			return nil, false
		}
		return tok, true
	}
	cred := snap.Cred(user)
	if cred == nil || !cred.Verify(pass) {
		unauthorized(ctx)
		return nil, false
	}
	if !cred.AnyChannel {
		respond(ctx, 403, credNotPermited)
		return nil, false
	}
	return nil, true
}

// body returns the request body, gunzipped when Content-Encoding is gzip,
// bounded by MaxBodyBytes decoded (a gzip bomb answers 413).
func (h *HTTP) body(ctx *fasthttp.RequestCtx) ([]byte, bool) {
	if !bytes.Equal(ctx.Request.Header.ContentEncoding(), encGzip) {
		return ctx.PostBody(), true
	}
	b, err := ctx.Request.BodyUncompressedWithLimit(h.opts.MaxBodyBytes)
	if errors.Is(err, fasthttp.ErrBodyTooLarge) {
		respond(ctx, 413, "Request body too large")
		return nil, false
	}
	if err != nil {
		respond(ctx, 400, "Bad request")
		return nil, false
	}
	return b, true
}

// route validates the whole body first (nothing is stored when any frame is
// malformed or the count is wrong), then routes it as one batch.
func (h *HTTP) route(ctx *fasthttp.RequestCtx, body []byte, tok *config.Token) {
	good, malformed := countFrames(body)
	if malformed > 0 {
		respond(ctx, 400, "Malformed log messages")
		return
	}
	if mc := ctx.Request.Header.PeekBytes(hdrMsgCount); len(mc) > 0 {
		n, err := strconv.Atoi(string(bytes.TrimSpace(mc)))
		if err != nil || n != good {
			respond(ctx, 400, "Message count mismatch")
			return
		}
	}
	if h.duplicate(ctx, tok) {
		status(ctx, 204)
		return
	}
	b := h.router.Batch()
	for rest := body; len(rest) > 0; {
		msg, n, k := frame.Next(rest)
		if k != frame.Message {
			break // a trailing incomplete frame is ignored (spec §2.2 step 8)
		}
		if tok != nil {
			b.AddForToken(msg, tok)
		} else {
			b.AddByAppName(msg)
		}
		rest = rest[n:]
	}
	b.Flush()
	status(ctx, 204)
}

var (
	framesDuplicate = metrics.NewCounter(`logplex_logs_duplicate_frames_total`)
	dedupErrors     = metrics.NewCounter(`logplex_logs_dedup_errors_total`)
	hdrFrameID      = []byte("Logplex-Frame-Id")
)

// duplicate reports whether this request's Logplex-Frame-Id was accepted
// within FrameIDTTL. Ids are scoped by the authenticated sender (token or
// credential), so tenants cannot suppress each other's frames. When the
// store cannot answer, the request is routed (a duplicate beats a loss).
func (h *HTTP) duplicate(ctx *fasthttp.RequestCtx, tok *config.Token) bool {
	id := ctx.Request.Header.PeekBytes(hdrFrameID)
	if h.opts.Dedup == nil || len(id) == 0 || len(id) > 128 {
		return false
	}
	scope := "cred"
	if tok != nil {
		scope = tok.ID
	} else if user, _, _, ok := config.ParseBasic(string(ctx.Request.Header.Peek("Authorization"))); ok {
		scope = user
	}
	c, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	first, err := h.opts.Dedup.FirstSeen(c, scope+":"+string(id), h.opts.FrameIDTTL)
	if err != nil {
		dedupErrors.Inc()
		return false
	}
	if !first {
		framesDuplicate.Inc()
	}
	return !first
}

// countFrames counts good and malformed frames; a trailing incomplete frame
// counts as neither.
func countFrames(body []byte) (good, malformed int) {
	for len(body) > 0 {
		_, n, k := frame.Next(body)
		switch k {
		case frame.NeedMore:
			return good, malformed
		case frame.Message:
			good++
		case frame.Malformed:
			malformed++
		}
		body = body[n:]
	}
	return good, malformed
}

func knownMethod(m []byte) bool {
	for _, k := range knownMethods {
		if bytes.Equal(m, k) {
			return true
		}
	}
	return false
}

// acceptsText reports whether an Accept header admits text/plain.
func acceptsText(a []byte) bool {
	for _, part := range bytes.Split(a, []byte(",")) {
		mt, _, _ := bytes.Cut(bytes.TrimSpace(part), []byte(";"))
		mt = bytes.TrimSpace(mt)
		if bytes.EqualFold(mt, []byte("text/plain")) || bytes.EqualFold(mt, []byte("text/*")) || bytes.Equal(mt, []byte("*/*")) {
			return true
		}
	}
	return false
}

// status answers code with an empty body.
func status(ctx *fasthttp.RequestCtx, code int) {
	ctx.SetStatusCode(code)
	countStatus(code)
}

// respond answers like Logplex's respond/4: the text is both the reason
// phrase and the body, with a Www-Authenticate header.
func respond(ctx *fasthttp.RequestCtx, code int, text string) {
	ctx.SetStatusCode(code)
	ctx.Response.Header.SetStatusMessage([]byte(text))
	ctx.Response.Header.Set("Www-Authenticate", realmHeader)
	ctx.SetBodyString(text)
	countStatus(code)
}

func unauthorized(ctx *fasthttp.RequestCtx) {
	ctx.Response.Header.Set("Www-Authenticate", realmHeader)
	status(ctx, 401)
}

type fasthttpLogger struct{ l *slog.Logger }

func (f fasthttpLogger) Printf(format string, args ...any) {
	f.l.Debug(fmt.Sprintf(format, args...), "component", "fasthttp")
}
