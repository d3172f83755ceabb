package config

import "strings"

// SplitList splits a comma-separated list (LOGPLEX_SHARD_URLS,
// FIREHOSE_CHANNEL_IDS, --grant, …), trimming spaces and dropping blanks.
func SplitList(s string) []string {
	var out []string
	for f := range strings.SplitSeq(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}
