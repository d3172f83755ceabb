package drain

import (
	"cmp"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"syscall"
	"time"

	"github.com/logplex/logplex/config"
	"github.com/logplex/logplex/internal/membudget"
)

// ErrPrivateAddress: a drain tried to connect to a private address while
// private drains are not allowed.
var ErrPrivateAddress = errors.New("drain address is loopback, private, link-local or another address that is not globally reachable (IANA special-purpose registries; see --allow-private-drains)")

// dialControl is the net.Dialer Control hook of every drain connection: it
// refuses the resolved address when it is private and private drains are not
// allowed, so a name that resolves (or re-resolves) inside cannot be reached.
func (o *Options) dialControl(network, address string, _ syscall.RawConn) error {
	if o.AllowPrivateDrains {
		return nil
	}
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return fmt.Errorf("drain dial %s: %w", address, err)
	}
	if config.IsPrivateIP(ap.Addr()) {
		return fmt.Errorf("drain dial %s: %w", address, ErrPrivateAddress)
	}
	return nil
}

// newDialer returns the dialer drains use: timeout plus the private-address check.
func (o *Options) newDialer(timeout time.Duration) net.Dialer {
	return net.Dialer{Timeout: timeout, Control: o.dialControl}
}

// Options configure every drain on this node. Zero values mean the defaults
// given (Logplex's, docs/logplex.md §9), so tests set only what they change.
type Options struct {
	// HTTP drains (docs/logplex.md §5.4)
	// HTTPBufferSize is the messages buffered per drain: default 1024
	// (Logplex's; the binary's flag sets 8 192, docs/tuning.md).
	HTTPBufferSize  int
	HTTPTargetBytes int // POST body target size; default 102400
	// HTTPBatchAge, when positive, spaces a drain's requests: a new frame
	// starts at least this long after the previous one did, unless
	// HTTPTargetBytes are buffered. 0 (default, Logplex): as soon as the
	// previous request is answered.
	HTTPBatchAge time.Duration
	// HTTPBatchWindow, when positive, lets an idle drain's messages gather
	// before a frame starts: the first message that finds the drain idle
	// opens a window of this length (messages left when a request returns
	// gathered since it started, so their window opened then), and the
	// frame starts when it closes or once HTTPTargetBytes (or half the
	// buffer's messages) are buffered. A drain whose last request started
	// more than sparseWindows windows ago opens no window (sparse traffic
	// keeps its latency) unless HTTPSparseWindow is set. 0 (the Options
	// default; the flag sets its own): as soon as the previous request is
	// answered.
	HTTPBatchWindow time.Duration
	// HTTPSparseWindow, when positive, gives a drain with sparse traffic
	// (no request yet, or its last one started more than sparseWindows
	// batch windows ago) a window of its own: a message that finds it idle
	// waits this long for others before its frame starts. 0 (default,
	// Logplex): it goes at once. Ignored while HTTPBatchWindow is 0.
	HTTPSparseWindow   time.Duration
	HTTPFrameRetries   int           // extra attempts per frame; default 2 (3 in all). Negative: 0
	HTTPConnectTimeout time.Duration // default 3 s
	HTTPRequestTimeout time.Duration // default 5 s
	HTTPIdleTimeout    time.Duration // close an idle connection after; default 144 s
	HTTPIdleFuzz       time.Duration // random addition to the idle timer; default 15 s
	HTTPMaxTTL         time.Duration // max connection age; default 5 h
	HTTPShrinkTimeout  time.Duration // shrink the buffer after failing this long; default 5 min
	HTTPReconnectTime  time.Duration // backoff unit; default 10 ms
	HTTPMaxRetries     int           // cap of the backoff exponent; default 10
	// DefaultCompression applies to drains created without one: "", "gzip" or "zstd".
	DefaultCompression string
	// HTTP2 lets HTTP drains to the same receiver share HTTP/2 connections
	// (http2.go): HTTP2Off ("" too, the zero value), HTTP2TLS (the
	// binary's default) or HTTP2All.
	HTTP2 string
	h2    *h2Hosts // the shared connections, made by setDefaults

	// Syslog drains over TCP and TLS (docs/logplex.md §5.5–5.6)
	TCPBufferSize  int // default 1024 (the binary's flag: 8 192), as HTTPBufferSize
	TCPTargetBytes int // bytes per write; default 4096
	// TCPBatchAge, when positive, spaces a syslog drain's writes the same
	// way (unless TCPTargetBytes are buffered). 0 (default): write as soon
	// as anything is buffered.
	TCPBatchAge time.Duration
	// TCPBatchWindow is HTTPBatchWindow for a syslog drain's writes (up to
	// TCPTargetBytes). 0 (the Options default): write as soon as anything
	// is buffered.
	TCPBatchWindow time.Duration
	// TCPSparseWindow is HTTPSparseWindow for a syslog drain's writes.
	TCPSparseWindow time.Duration
	TCPSendTimeout  time.Duration // connect and write timeout; default 4 s
	TCPBackoffMax   time.Duration // reconnect backoff cap; default 300 s
	TCPReconnectMin time.Duration // min gap after a clean close; default 30 s
	TCPIdleTimeout  time.Duration // default 240 s
	TCPIdleFuzz     time.Duration // default 15 s
	TCPMaxTTL       time.Duration // default 5 h
	TCPShrinkAfter  int           // failures before shrinking a full buffer to 10; default 10
	TCPDontSendLoss bool          // tcp_syslog_send_loss_msg = dont_send
	TLSCAFile       string        // CA bundle; default: system roots
	TLSPinnedCerts  string        // PEM text of pinned certificates (LOGPLEX_TLS_PINNED_CERTS)
	TLSInsecure     bool          // tls_mode insecure: no verification for any TLS drain
	TLSMaxDepth     int           // intermediates allowed in a TLS drain's chain; default 9 (tls_max_depth). Negative: 0
	TCPBackoffBase  time.Duration // unit of the 2^F reconnect backoff; default 1 s

	// AllowPrivateDrains lets drains connect to loopback, private,
	// link-local and unspecified addresses. Off, every dial checks the
	// address actually connected to (a name may resolve to one).
	AllowPrivateDrains bool
	// TokenNamed, if set, returns the id of the channel's token with this
	// name ("" if none); L14 notices use the "heroku" token as source.
	TokenNamed func(channelID, name string) string

	UserAgent string // default "Logplex/<version>" is set by the caller; default "Logplex/dev"
	// MaxDrainSeries bounds the drains of this node that export their own
	// metric series (19 each); later drains count only in the totals.
	// Default 1000; negative: none.
	MaxDrainSeries int
	StopGrace      time.Duration // flush time for a stopped (deleted, changed) drain; default 5 s
	// Spill is the disk spill of drain buffers (spill.go); off by default.
	Spill SpillOptions
	// BuffersMaxBytes bounds the memory of every drain buffer of the node
	// together (budget.go): beyond it, the buffers holding more than their
	// share drop their oldest messages (L10). 0 (the Options default; the
	// flag sets its own): each buffer is bounded in messages only.
	BuffersMaxBytes int64
	bud             *membudget.Budget // made by setDefaults

	// Notify, if set, receives notices a drain raises into its channel's
	// history and tails (L14), as a raw syslog message; called from the
	// sender goroutine.
	Notify func(channelID string, msg []byte)
	Logger *slog.Logger
}

// sparseWindows: a drain whose last request (write) started more than this
// many batch windows ago has sparse traffic; a message that finds it idle
// goes out at once, since a window would add its latency and, at such a
// rate, catch no second message.
const sparseWindows = 4

// windowEnd is when a batch window of w opening now closes, for a sender
// whose last request (write) started at last and that is idle or not: from
// that start while a request is in flight, else from now. A sender with
// sparse traffic (no request yet, or idle and the last request started
// more than sparseWindows windows ago) gets the sparse window instead,
// from now; ok is false when no window opens (sparse is 0).
func windowEnd(w, sparse time.Duration, last time.Time, idle bool, now time.Time) (end time.Time, ok bool) {
	switch {
	case last.IsZero() || idle && now.Sub(last) > sparseWindows*w:
		if sparse <= 0 {
			return time.Time{}, false
		}
		return onGrid(now.Add(sparse), sparse), true
	case !idle:
		return onGrid(last.Add(w), w), true
	}
	return onGrid(now.Add(w), w), true
}

// windowGrid: a window of at least 4 grid steps closes on the next multiple
// of it (of the wall clock, added to the monotonic time: a clock step moves
// no window by more than a step), so the windows of many drains close
// together and one wake-up of the scheduler serves several of them rather
// than each its own.
const windowGrid = 4 * time.Millisecond

func onGrid(end time.Time, w time.Duration) time.Time {
	if w < 4*windowGrid {
		return end
	}
	if rem := end.UnixNano() % int64(windowGrid); rem != 0 {
		end = end.Add(windowGrid - time.Duration(rem))
	}
	return end
}

// setDefaults fills zero (and negative) fields with Logplex's defaults.
func (o *Options) setDefaults() {
	o.MaxDrainSeries = cmp.Or(max(o.MaxDrainSeries, 0), 1000)
	o.HTTPBufferSize = cmp.Or(max(o.HTTPBufferSize, 0), 1024)
	o.HTTPTargetBytes = cmp.Or(max(o.HTTPTargetBytes, 0), 102400)
	if o.HTTPFrameRetries == 0 {
		o.HTTPFrameRetries = 2
	} else if o.HTTPFrameRetries < 0 {
		o.HTTPFrameRetries = 0
	}
	o.HTTPConnectTimeout = cmp.Or(max(o.HTTPConnectTimeout, 0), 3*time.Second)
	o.HTTPRequestTimeout = cmp.Or(max(o.HTTPRequestTimeout, 0), 5*time.Second)
	o.HTTPIdleTimeout = cmp.Or(max(o.HTTPIdleTimeout, 0), 144*time.Second)
	o.HTTPIdleFuzz = cmp.Or(max(o.HTTPIdleFuzz, 0), 15*time.Second)
	o.HTTPMaxTTL = cmp.Or(max(o.HTTPMaxTTL, 0), 5*time.Hour)
	o.HTTPShrinkTimeout = cmp.Or(max(o.HTTPShrinkTimeout, 0), 5*time.Minute)
	o.HTTPReconnectTime = cmp.Or(max(o.HTTPReconnectTime, 0), 10*time.Millisecond)
	o.HTTPMaxRetries = cmp.Or(max(o.HTTPMaxRetries, 0), 10)
	o.TCPBufferSize = cmp.Or(max(o.TCPBufferSize, 0), 1024)
	o.TCPTargetBytes = cmp.Or(max(o.TCPTargetBytes, 0), 4096)
	o.TCPSendTimeout = cmp.Or(max(o.TCPSendTimeout, 0), 4*time.Second)
	o.TCPBackoffMax = cmp.Or(max(o.TCPBackoffMax, 0), 300*time.Second)
	o.TCPReconnectMin = cmp.Or(max(o.TCPReconnectMin, 0), 30*time.Second)
	o.TCPIdleTimeout = cmp.Or(max(o.TCPIdleTimeout, 0), 240*time.Second)
	o.TCPIdleFuzz = cmp.Or(max(o.TCPIdleFuzz, 0), 15*time.Second)
	o.TCPMaxTTL = cmp.Or(max(o.TCPMaxTTL, 0), 5*time.Hour)
	o.TCPShrinkAfter = cmp.Or(max(o.TCPShrinkAfter, 0), 10)
	o.StopGrace = cmp.Or(max(o.StopGrace, 0), 5*time.Second)
	o.TCPBackoffBase = cmp.Or(max(o.TCPBackoffBase, 0), time.Second)
	if o.TLSMaxDepth == 0 {
		o.TLSMaxDepth = 9
	} else if o.TLSMaxDepth < 0 {
		o.TLSMaxDepth = 0
	}
	o.UserAgent = cmp.Or(o.UserAgent, "Logplex/dev")
	o.Logger = cmp.Or(o.Logger, slog.Default())
	if o.h2 == nil {
		o.h2 = newH2Hosts(o.HTTP2, o.Logger)
	}
	if o.bud == nil {
		o.bud = newBufBudget(o.BuffersMaxBytes)
	}
}
