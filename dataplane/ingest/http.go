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
	// MaxFrameIDs bounds the frame ids one sender (token or credential) has
	// remembered per FrameIDTTL window; beyond it its requests are routed
	// without de-duplication and counted. Default 100000; negative: none.
	MaxFrameIDs int
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

// HTTP serves `POST /logs` and `GET /healthcheck` (docs/logplex.md §2.2, §4.4).
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
	if opts.MaxFrameIDs == 0 {
		opts.MaxFrameIDs = 100000
	}
	if opts.InflightBudget <= 0 {
		opts.InflightBudget = 256 << 20
	}
	ln, err := net.Listen("tcp", opts.Addr)
	if err != nil {
		return nil, fmt.Errorf("http input listener %s: %w", opts.Addr, err)
	}
	h := &HTTP{opts: opts, router: router, ready: ready, log: log, ln: newRetryListener(ln, "logs", acceptErrorsLogs, log), adm: newAdmission(opts.InflightBudget)}
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
		StreamRequestBody:     true, // the handler authenticates, then reads (admission.go)
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

// logs implements docs/logplex.md §2.2's decision order. Everything up to the body is
// decided from the headers, before a byte of the body is read; a request
// refused there has its connection closed (its body is never read).
func (h *HTTP) logs(ctx *fasthttp.RequestCtx) {
	tok, ok := h.preflight(ctx)
	if !ok {
		if ctx.Request.Header.ContentLength() != 0 {
			ctx.SetConnectionClose()
		}
		return
	}
	raw, ok := getBody(h.adm)
	if !ok {
		refuse(ctx)
		return
	}
	defer putBody(h.adm, raw)
	if !h.read(ctx, raw) {
		return
	}
	body := raw.b
	if bytes.Equal(ctx.Request.Header.ContentEncoding(), encGzip) {
		dec, ok := getBody(h.adm)
		if !ok {
			refuse(ctx)
			return
		}
		defer putBody(h.adm, dec)
		if !h.bodyErr(ctx, gunzip(dec, raw.b, h.adm, h.opts.MaxBodyBytes)) {
			return
		}
		body = dec.b
	}
	h.route(ctx, body, tok)
}

// preflight makes the decisions of docs/logplex.md §2.2 that need only the headers;
// on failure it has answered.
func (h *HTTP) preflight(ctx *fasthttp.RequestCtx) (*config.Token, bool) {
	if h.DenyLogsIngress.Load() {
		status(ctx, 503)
		return nil, false
	}
	m := ctx.Method()
	if !knownMethod(m) {
		status(ctx, 501)
		return nil, false
	}
	if !ctx.IsPost() {
		ctx.Response.Header.Set("Allow", "POST")
		status(ctx, 405)
		return nil, false
	}
	snap := h.router.Snapshot()
	if snap == nil {
		ctx.Response.Header.Set("Retry-After", "1")
		respond(ctx, 503, "SYSTEM BOOTING")
		return nil, false
	}
	tok, ok := authorize(ctx, snap)
	if !ok {
		return nil, false
	}
	ct := ctx.Request.Header.ContentType()
	if !bytes.Equal(ct, ctLogplex) && !bytes.Equal(ct, ctXLogplex) {
		status(ctx, 415)
		return nil, false
	}
	if a := ctx.Request.Header.Peek("Accept"); len(a) > 0 && !acceptsText(a) {
		status(ctx, 406)
		return nil, false
	}
	if ctx.Request.Header.ContentLength() > h.opts.MaxBodyBytes {
		respond(ctx, 413, "Request body too large")
		ctx.SetConnectionClose() // the body is not read
		return nil, false
	}
	return tok, true
}

// read reads the request body into b (bounded by MaxBodyBytes and the
// admission budget); on failure it has answered and closed the connection.
func (h *HTTP) read(ctx *fasthttp.RequestCtx, b *bodyBuf) bool {
	r := ctx.RequestBodyStream()
	if r == nil {
		b.b = append(b.b, ctx.PostBody()...) // not streamed: already read (and bounded) by fasthttp
		return true
	}
	return h.bodyErr(ctx, b.readFrom(r, h.adm, h.opts.MaxBodyBytes))
}

// bodyErr answers a body read or decode error (none: true).
func (h *HTTP) bodyErr(ctx *fasthttp.RequestCtx, err error) bool {
	if err == nil {
		return true
	}
	var ne net.Error
	switch {
	case errors.Is(err, errOverloaded):
		refuse(ctx)
		return false
	case errors.Is(err, errTooLarge), errors.Is(err, fasthttp.ErrBodyTooLarge):
		respond(ctx, 413, "Request body too large")
	case errors.As(err, &ne) && ne.Timeout():
		respond(ctx, 408, "Request timeout")
	default:
		respond(ctx, 400, "Bad request")
	}
	ctx.SetConnectionClose()
	return false
}

// authorize checks Basic auth (docs/logplex.md §2.2.1): token auth returns the token;
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

// route validates the whole body first (nothing is stored when any frame is
// malformed or the count is wrong), then routes it as one batch.
func (h *HTTP) route(ctx *fasthttp.RequestCtx, body []byte, tok *config.Token) {
	good, malformed, trailing := countFrames(body)
	if trailing > 0 { // ignored (docs/logplex.md §2.2 step 8: still 204), but counted
		logsTrailingBytes.Add(trailing)
	}
	if good == 0 && malformed == 0 && len(body) > 0 {
		logsNoFrame.Inc()
	}
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
			break // a trailing incomplete frame is ignored (docs/logplex.md §2.2 step 8)
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
	// A body's trailing incomplete frame is ignored (docs/logplex.md §2.2 step 8) and
	// counted; a body with no frame at all (`hello world`) is also counted.
	logsTrailingBytes = metrics.NewCounter(`logplex_logs_trailing_bytes_discarded_total`)
	logsNoFrame       = metrics.NewCounter(`logplex_logs_requests_without_frames_total`)
)

var (
	framesDuplicate = metrics.NewCounter(`logplex_logs_duplicate_frames_total`)
	dedupErrors     = metrics.NewCounter(`logplex_logs_dedup_errors_total`)
	// requests routed without de-duplication: their sender is over MaxFrameIDs
	dedupOverLimit = metrics.NewCounter(`logplex_logs_frame_ids_over_limit_total`)
	hdrFrameID     = []byte("Logplex-Frame-Id")
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
	first, err := h.opts.Dedup.FirstSeen(c, scope, string(id), h.opts.FrameIDTTL, max(h.opts.MaxFrameIDs, 0))
	if errors.Is(err, store.ErrFrameIDLimit) {
		dedupOverLimit.Inc()
		return false
	}
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
// counts as neither, its length is trailing.
func countFrames(body []byte) (good, malformed, trailing int) {
	for len(body) > 0 {
		_, n, k := frame.Next(body)
		switch k {
		case frame.NeedMore:
			return good, malformed, len(body)
		case frame.Message:
			good++
		case frame.Malformed:
			malformed++
		}
		body = body[n:]
	}
	return good, malformed, 0
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
