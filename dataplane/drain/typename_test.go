package drain

import (
	"strings"
	"testing"

	"github.com/logplex/logplex/config"
)

// TestOneNamePerDrainType: the drain_type label of a drain's series is the
// name the stats lines use (TypeName, Logplex's names).
func TestOneNamePerDrainType(t *testing.T) {
	for _, c := range []struct{ url, want string }{
		{"https://example.com/logs", "http"},
		{"syslog://127.0.0.1:1/", "tcpsyslog"},
		{"syslog+tls://127.0.0.1:1/", "tlssyslog"},
		{"otlp+https://example.com/v1/logs", "otlp"},
	} {
		u, err := config.ParseDrainURL(c.url)
		if err != nil {
			t.Fatal(err)
		}
		if got := TypeName(u.Kind); got != c.want {
			t.Errorf("%s: TypeName %q, want %q", c.url, got, c.want)
		}
		o := Options{AllowPrivateDrains: true}
		o.setDefaults()
		d := &Drain{Config: &config.Drain{ID: 990000 + int64(len(c.want)), ChannelID: "c", Token: "t.x", URL: c.url}, URL: u}
		var err2 error
		if u.Kind == config.DrainHTTP || u.Kind == config.DrainOTLP {
			_, err2 = newHTTPSender(&o, d)
		} else {
			_, err2 = newSyslogSender(&o, d)
		}
		if err2 != nil {
			t.Fatal(err2)
		}
		d.Stats.register()
		r := d.Stats.series.Load()
		if r == nil {
			t.Fatalf("%s: no series registered", c.url)
		}
		for _, n := range r.names {
			if !strings.Contains(n, `drain_type="`+c.want+`"`) {
				t.Errorf("%s: series %s, want drain_type=%q", c.url, n, c.want)
			}
		}
		d.Stats.remove()
	}
}
