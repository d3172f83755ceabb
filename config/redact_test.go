package config

import "testing"

func TestRedactURL(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"redis://:s3cret@10.0.0.5:6379", "redis://***@10.0.0.5:6379"},
		{"redis://user:s3cret@h:6379/0#frag", "redis://***@h:6379/0#frag"},
		{"redis://s3cret@h", "redis://***@h"}, // url.URL.Redacted would show it
		{"redis://h:6379", "redis://h:6379"},
		{"http://ID:PASS@host:8001", "http://***@host:8001"},
		{"redis://:s3%zz@h", "redis://***@h"}, // does not parse as a URL
	} {
		if got := RedactURL(c.in); got != c.want {
			t.Errorf("RedactURL(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}
