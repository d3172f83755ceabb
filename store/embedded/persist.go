package embedded

// Persistence of the embedded config: a snapshot and an append-only log.
//
//	<data-dir>/config.json   the whole config as of the last compaction
//	                         (hashes, counters, the read-only bit), written
//	                         to a temporary file, fsynced, renamed
//	<data-dir>/config.log    one record per write since then, appended and
//	                         fsynced before the write is acknowledged:
//
//	    crc32c(json) as 8 hex digits, SP, json, LF
//	    json = {"c":[{"k":key,"h":{field:value}[,"m":true]} | {"k":key,"d":true}, …],
//	            "n":{counter:value}, "ro":bool}
//
// Every record assigns values (a hash, some of its fields with "m", a
// deleted key, a counter's new value, the bit), so replaying a record that config.json already holds
// changes nothing: a crash between the two renames of a compaction, or a
// reader that saw the new snapshot before the new log, ends in the same
// state. JSON escapes LF inside strings, so LF ends a record and nothing
// else; a record without its LF is still being written (or was torn by a
// crash) and is not applied. At open, and before each write, under the
// exclusive lock, a torn or corrupt tail is cut off and its size logged: at
// most the write that was not yet acknowledged is lost, and every record
// starts a line of its own. An append that fails (a full disk, a failed
// fsync) is cut off at once: the write is refused and stays unapplied.
//
// A write costs one record (O(change)), not the whole config; once the log
// outgrows compactMin and the snapshot, the next write compacts. A process
// sharing the data directory (a running server and `logplex cred`) follows
// the log by offset; a compaction replaces config.log by rename, so a new
// inode (or a log shorter than the offset read) means: load both again.

import (
	"bufio"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"syscall"

	"github.com/logplex/logplex/config"
)

// compactMin is the log size below which a write never compacts (a
// variable for tests).
var compactMin int64 = 1 << 20

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// record is one write in config.log.
type record struct {
	Changes  []logChange      `json:"c,omitempty"`
	Counters map[string]int64 `json:"n,omitempty"`
	ReadOnly *bool            `json:"ro,omitempty"`
}

type logChange struct {
	Key    string      `json:"k"`
	Fields config.Hash `json:"h,omitempty"`
	Del    bool        `json:"d,omitempty"`
	Merge  bool        `json:"m,omitempty"` // Fields over the stored hash (config.Change.Merge)
}

// logPos is how far this process has applied config.log.
type logPos struct {
	ino uint64 // the log file's inode; a compaction replaces the file
	off int64  // bytes applied
}

func (c *Config) logPath() string { return filepath.Join(filepath.Dir(c.path), "config.log") }

// fileIno returns the inode and size of path (0, 0 when it does not exist).
func fileIno(path string) (ino uint64, size int64, err error) {
	fi, err := os.Stat(path)
	if errors.Is(err, os.ErrNotExist) {
		return 0, 0, nil
	}
	if err != nil {
		return 0, 0, err
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		ino = st.Ino
	}
	return ino, fi.Size(), nil
}

// readSnapshot reads config.json (empty when there is none yet).
func (c *Config) readSnapshot() (persisted, error) {
	var p persisted
	data, err := os.ReadFile(c.path)
	if errors.Is(err, os.ErrNotExist) {
		return p, nil
	}
	if err != nil {
		return p, fmt.Errorf("embedded store: %w", err)
	}
	if err := json.Unmarshal(data, &p); err != nil {
		return p, fmt.Errorf("embedded store: %s is not valid: %w", c.path, err)
	}
	return p, nil
}

// readLog hands apply the complete records of config.log from pos.off on
// (from the start when the file is another than pos's) and returns the new
// position and the offset of a record not applied because it is incomplete
// or corrupt (-1: none).
func (c *Config) readLog(pos logPos, apply func(record)) (logPos, int64, error) {
	f, err := os.Open(c.logPath())
	if errors.Is(err, os.ErrNotExist) {
		return logPos{}, -1, nil
	}
	if err != nil {
		return pos, -1, fmt.Errorf("embedded store: %w", err)
	}
	defer f.Close()
	if fi, err := f.Stat(); err == nil {
		if st, ok := fi.Sys().(*syscall.Stat_t); ok && st.Ino != pos.ino {
			pos = logPos{ino: st.Ino}
		}
	}
	if _, err := f.Seek(pos.off, io.SeekStart); err != nil {
		return pos, -1, err
	}
	r := bufio.NewReader(f)
	for {
		line, err := r.ReadBytes('\n')
		if errors.Is(err, io.EOF) {
			if len(line) > 0 {
				return pos, pos.off, nil // being written, or torn
			}
			return pos, -1, nil
		}
		if err != nil {
			return pos, -1, fmt.Errorf("embedded store: read %s: %w", c.logPath(), err)
		}
		rec, ok := decodeRecord(line)
		if !ok {
			return pos, pos.off, nil
		}
		apply(rec)
		pos.off += int64(len(line))
	}
}

func decodeRecord(line []byte) (record, bool) {
	var rec record
	if len(line) < 10 || line[8] != ' ' {
		return rec, false
	}
	var sum [4]byte
	if _, err := hex.Decode(sum[:], line[:8]); err != nil {
		return rec, false
	}
	body := line[9 : len(line)-1]
	want := uint32(sum[0])<<24 | uint32(sum[1])<<16 | uint32(sum[2])<<8 | uint32(sum[3])
	if crc32.Checksum(body, castagnoli) != want {
		return rec, false
	}
	return rec, json.Unmarshal(body, &rec) == nil
}

// merged is old with fields written over it, in a new map.
func merged(old, fields config.Hash) config.Hash {
	h := make(config.Hash, len(old)+len(fields))
	maps.Copy(h, old)
	maps.Copy(h, fields)
	return h
}

func encodeRecord(rec record) ([]byte, error) {
	body, err := json.Marshal(rec)
	if err != nil {
		return nil, err
	}
	line := make([]byte, 0, len(body)+10)
	line = fmt.Appendf(line, "%08x ", crc32.Checksum(body, castagnoli))
	line = append(line, body...)
	return append(line, '\n'), nil
}

// applyRecord applies rec to p.
func applyRecord(p *persisted, rec record) {
	for _, ch := range rec.Changes {
		switch {
		case ch.Del:
			delete(p.Hashes, ch.Key)
		case ch.Merge:
			p.Hashes[ch.Key] = merged(p.Hashes[ch.Key], ch.Fields)
		default:
			p.Hashes[ch.Key] = ch.Fields
		}
	}
	for k, v := range rec.Counters {
		p.Counters[k] = v
	}
	if rec.ReadOnly != nil {
		p.ReadOnly = *rec.ReadOnly
	}
}

// loadAll reads config.json and replays config.log on it. With repair (the
// caller holds the lock) a torn or corrupt tail is cut off.
func (c *Config) loadAll(repair bool) (persisted, logPos, error) {
	p, err := c.readSnapshot()
	if err != nil {
		return p, logPos{}, err
	}
	if p.Hashes == nil {
		p.Hashes = map[string]config.Hash{}
	}
	if p.Counters == nil {
		p.Counters = map[string]int64{}
	}
	pos, bad, err := c.readLog(logPos{}, func(rec record) { applyRecord(&p, rec) })
	if err != nil || bad < 0 || !repair {
		return p, pos, err
	}
	return p, pos, c.cutTornTail(bad)
}

// cutTornTail cuts config.log at off, where a record that is torn or
// corrupt starts; the caller holds the exclusive lock, so no writer is in
// the middle of an append. Every append must start on a record's
// boundary: one written after torn bytes would share their line, never be
// applied, and be cut off with them at the next repair, acknowledged.
func (c *Config) cutTornTail(off int64) error {
	_, size, _ := fileIno(c.logPath())
	slog.Warn("embedded store: cutting off a torn or corrupt end of the config log (a write that was not acknowledged)",
		"file", c.logPath(), "offset", off, "bytes", size-off)
	return c.cutLog(off)
}

// cutLog truncates config.log to off bytes and fsyncs it.
func (c *Config) cutLog(off int64) error {
	f, err := os.OpenFile(c.logPath(), os.O_WRONLY, 0)
	if err == nil {
		err = errors.Join(f.Truncate(off), f.Sync(), f.Close())
	}
	if err != nil {
		return fmt.Errorf("embedded store: cut %s to %d bytes: %w", c.logPath(), off, err)
	}
	return nil
}

// appendRecord appends rec to config.log and fsyncs it; the caller holds
// mu and the lock, and has refreshed (so pos is the log's end).
func (c *Config) appendRecord(rec record) error {
	line, err := encodeRecord(rec)
	if err != nil {
		return err
	}
	f, err := os.OpenFile(c.logPath(), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("embedded store: %w", err)
	}
	werr := appendLine(f, line)
	ino, _, _ := fileIno(c.logPath())
	if cerr := f.Close(); werr == nil {
		werr = cerr
	}
	if werr != nil {
		// The log may now end in part of the record, or in all of it
		// unsynced: cut it back to where it ended, so that the refused
		// write is not applied later and the next record starts a line.
		end := c.pos.off
		if ino != c.pos.ino {
			end = 0 // this write made the log
		}
		if err := c.cutLog(end); err != nil {
			// Cutting failed too: the next write's refresh cuts a torn
			// record; a whole one (its fsync failed) is applied then, as
			// the outcome of a failed fsync is unknown either way.
			werr = errors.Join(werr, err)
		}
		return fmt.Errorf("embedded store: append to %s: %w", c.logPath(), werr)
	}
	if ino != c.pos.ino { // the log was created by this write
		c.pos = logPos{ino: ino}
	}
	c.pos.off += int64(len(line))
	return nil
}

// appendLine writes line at the end of f and fsyncs it (a variable for
// tests, which make it fail part way).
var appendLine = writeAndSync

func writeAndSync(f *os.File, line []byte) error {
	_, werr := f.Write(line)
	return errors.Join(werr, f.Sync())
}

// maybeCompact compacts once the log outgrows compactMin and twice the
// snapshot; the caller holds mu and the lock, and has applied every record.
// A compaction that fails is logged, not returned: the write that set it
// off is in the log, applied, and must be acknowledged (a client retrying
// a create would make a second one). The next try waits until the log has
// grown by compactMin more, so that a full disk does not cost a rewrite of
// the whole config at every write.
func (c *Config) maybeCompact() {
	if c.path == "" || c.pos.off <= max(compactMin, 2*c.snapSize, c.compactAfter) {
		return
	}
	if err := c.compact(); err != nil {
		c.compactAfter = c.pos.off + compactMin
		slog.Warn("embedded store: compaction failed; the config log grows until one works", "err", err, "log_bytes", c.pos.off)
		return
	}
	c.compactAfter = 0
}

// compact writes the whole config to config.json and starts an empty log;
// the caller holds mu and the lock.
func (c *Config) compact() error {
	data, err := json.Marshal(persisted{Hashes: c.hashes, Counters: c.persistedCounters(), ReadOnly: c.rodBit})
	if err != nil {
		return err
	}
	if err := writeSynced(c.path, data); err != nil {
		return err
	}
	if err := writeSynced(c.logPath(), nil); err != nil {
		return err
	}
	ino, _, err := fileIno(c.logPath())
	if err != nil {
		return err
	}
	c.pos, c.snapSize = logPos{ino: ino}, int64(len(data))
	return nil
}

// writeSynced replaces path with data: a temporary file, fsynced, renamed,
// and the directory fsynced.
func writeSynced(path string, data []byte) error {
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
	if err != nil {
		return fmt.Errorf("embedded store: %w", err)
	}
	_, werr := f.Write(data)
	serr := f.Sync()
	cerr := f.Close()
	if err := errors.Join(werr, serr, cerr); err != nil {
		return fmt.Errorf("embedded store: write %s: %w", tmp, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("embedded store: %w", err)
	}
	dir, err := os.Open(filepath.Dir(path))
	if err != nil {
		return nil // the rename is done; a directory that cannot be opened cannot be synced
	}
	defer dir.Close()
	return dir.Sync()
}
