package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"
)

// newLogger builds the process logger. Its level is a LevelVar so SIGHUP
// can change it; durations are written as strings ("1.5s") in both formats.
func newLogger(level, format string, w io.Writer) (*slog.Logger, *slog.LevelVar, error) {
	lv := new(slog.LevelVar)
	if err := setLevel(lv, level); err != nil {
		return nil, nil, err
	}
	o := &slog.HandlerOptions{Level: lv, ReplaceAttr: durationsAsStrings}
	switch format {
	case "text":
		return slog.New(slog.NewTextHandler(w, o)), lv, nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, o)), lv, nil
	}
	return nil, nil, fmt.Errorf("--log-format %q: want text or json", format)
}

func setLevel(lv *slog.LevelVar, level string) error {
	var l slog.Level
	if err := l.UnmarshalText([]byte(strings.TrimSpace(level))); err != nil {
		return fmt.Errorf("log level %q: want debug, info, warn or error", strings.TrimSpace(level))
	}
	lv.Set(l)
	return nil
}

// durationsAsStrings writes a time.Duration as "250ms" rather than the
// JSON handler's integer nanoseconds.
func durationsAsStrings(_ []string, a slog.Attr) slog.Attr {
	if a.Value.Kind() == slog.KindDuration {
		a.Value = slog.StringValue(a.Value.Duration().String())
	}
	return a
}

// readLevelFile sets lv from the file at path (--log-level-file).
func readLevelFile(lv *slog.LevelVar, path string) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("--log-level-file: %w", err)
	}
	if err := setLevel(lv, string(data)); err != nil {
		return fmt.Errorf("--log-level-file %s: %w", path, err)
	}
	return nil
}

// statsWriter is where the per-minute m=logplex_stats lines go: stderr as
// Logplex writes them, or, with --log-format json, one JSON log record per
// line through the process logger (never filtered by the log level:
// --stats-log alone turns them off).
func statsWriter(s *settings, log *slog.Logger) io.Writer {
	if !s.statsLog {
		return nil
	}
	if s.logFormat == "json" {
		return &logfmtToRecords{h: log.Handler()}
	}
	return os.Stderr
}

// logfmtToRecords turns each key=value line written to it into one log
// record: message "logplex_stats", integers as numbers, the rest as
// strings. Writes are whole lines (the stats writer writes one line per
// call); a partial line waits for its end.
type logfmtToRecords struct {
	mu  sync.Mutex
	h   slog.Handler
	buf []byte
}

func (l *logfmtToRecords) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.buf = append(l.buf, p...)
	for {
		i := bytes.IndexByte(l.buf, '\n')
		if i < 0 {
			return len(p), nil
		}
		l.emit(string(l.buf[:i]))
		l.buf = l.buf[i+1:]
	}
}

func (l *logfmtToRecords) emit(line string) {
	msg := "logplex_stats"
	r := slog.NewRecord(time.Now(), slog.LevelInfo, msg, 0)
	for _, f := range strings.Fields(line) {
		k, v, ok := strings.Cut(f, "=")
		if !ok {
			continue
		}
		if k == "m" {
			continue // the message already says it
		}
		if n, err := strconv.ParseInt(v, 10, 64); err == nil && !strings.HasSuffix(k, "_id") {
			r.AddAttrs(slog.Int64(k, n))
		} else {
			r.AddAttrs(slog.String(k, v))
		}
	}
	_ = l.h.Handle(context.Background(), r)
}
