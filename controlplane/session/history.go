package session

import "github.com/logplex/logplex/frame"

// AppendHistory appends the session lines for history, which holds cooked
// messages newest first (as store.Spool.Range returns them), and returns dst
// and the number of lines written. Lines come out oldest first (spec §4.5):
// without filters one line per parseable entry of the newest num; with
// filters the newest num entries that parse and match, found by scanning
// newest to oldest. Entries that do not parse (frame.ParseSession) print
// nothing.
func AppendHistory(dst []byte, history [][]byte, sp Spec) ([]byte, int) {
	picked := make([]frame.Fields, 0, min(len(history), sp.Num))
	for _, msg := range history {
		if len(picked) == sp.Num {
			break
		}
		f, ok := frame.ParseSession(msg)
		if ok && sp.Match(f) {
			picked = append(picked, f)
		} else if !sp.Filtered() && !ok {
			picked = append(picked, frame.Fields{}) // counts toward num, prints nothing
		}
	}
	lines := 0
	for i := len(picked) - 1; i >= 0; i-- {
		if picked[i].Time == nil {
			continue
		}
		dst = frame.AppendSessionLine(dst, picked[i])
		lines++
	}
	return dst, lines
}

// Match reports whether a parsed message passes the session's filters.
func (sp Spec) Match(f frame.Fields) bool {
	return frame.MatchPS(f.PS, sp.PS) && frame.MatchSource(f.Source, sp.Source)
}
