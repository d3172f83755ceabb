package session

import (
	"io"

	"github.com/logplex/logplex/frame"
)

// writeChunk is how many bytes of lines WriteHistory gathers per write.
const writeChunk = 32 << 10

// picked is one history entry a session prints: its parsed fields, or a
// zero Time when it counts toward num but prints nothing; at is its index
// in the history.
type picked struct {
	f  frame.Fields
	at int
}

// pick selects the entries a session prints from history (newest first):
// without filters the newest num, parseable or not; with filters the newest
// num that parse and match.
func pick(history [][]byte, sp Spec) []picked {
	out := make([]picked, 0, min(len(history), sp.Num))
	for i, msg := range history {
		if len(out) == sp.Num {
			break
		}
		f, ok := frame.ParseSession(msg)
		if ok && sp.Match(f) {
			out = append(out, picked{f, i})
		} else if !sp.Filtered() && !ok {
			out = append(out, picked{at: i}) // counts toward num, prints nothing
		}
	}
	return out
}

// AppendHistory appends the session lines for history, which holds cooked
// messages newest first (as store.Spool.Range returns them), and returns dst
// and the number of lines written. Lines come out oldest first (docs/logplex.md §4.5):
// without filters one line per parseable entry of the newest num; with
// filters the newest num entries that parse and match, found by scanning
// newest to oldest. Entries that do not parse (frame.ParseSession) print
// nothing.
func AppendHistory(dst []byte, history [][]byte, sp Spec) ([]byte, int) {
	ps := pick(history, sp)
	lines := 0
	for i := len(ps) - 1; i >= 0; i-- {
		if ps[i].f.Time == nil {
			continue
		}
		dst = frame.AppendSessionLine(dst, ps[i].f)
		lines++
	}
	return dst, lines
}

// WriteHistory writes the lines AppendHistory would append to w, in writes
// of about 32 KiB, without building the whole response. It sets each entry
// of history to nil once its line is written (and every entry it does not
// print before it starts), so a fetch whose client reads slowly holds less
// and less of it. It returns the first write error.
func WriteHistory(w io.Writer, history [][]byte, sp Spec) error {
	ps := pick(history, sp)
	keep := make([]bool, len(history))
	for _, p := range ps {
		keep[p.at] = true
	}
	for i := range history {
		if !keep[i] {
			history[i] = nil
		}
	}
	buf := make([]byte, 0, writeChunk+frame.MaxFrameLen)
	for i := len(ps) - 1; i >= 0; i-- {
		if ps[i].f.Time != nil {
			buf = frame.AppendSessionLine(buf, ps[i].f)
		}
		ps[i], history[ps[i].at] = picked{}, nil
		if len(buf) >= writeChunk {
			if _, err := w.Write(buf); err != nil {
				return err
			}
			buf = buf[:0]
		}
	}
	if len(buf) > 0 {
		_, err := w.Write(buf)
		return err
	}
	return nil
}

// Match reports whether a parsed message passes the session's filters.
func (sp Spec) Match(f frame.Fields) bool {
	return frame.MatchPS(f.PS, sp.PS) && frame.MatchSource(f.Source, sp.Source)
}
