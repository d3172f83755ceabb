package controlplane_test

import (
	"strings"
	"testing"

	"github.com/logplex/logplex/controlplane"
	"github.com/logplex/logplex/store/embedded"
)

func TestOptionsValidation(t *testing.T) {
	if _, err := controlplane.New(controlplane.Options{}); err == nil || !strings.Contains(err.Error(), "required") {
		t.Fatalf("missing store: %v", err)
	}
	st, _ := embedded.OpenConfig("")
	_, err := controlplane.New(controlplane.Options{Store: st, Watcher: newIdleWatcher(st), Spool: embedded.NewSpool(0, 0),
		APIAddr: "127.0.0.1:0", V3Addr: "127.0.0.1:0", DrainDefaultCompression: "brotli"})
	if err == nil || !strings.Contains(err.Error(), "brotli") {
		t.Fatalf("bad compression: %v", err)
	}
	_, err = controlplane.New(controlplane.Options{Store: st, Watcher: newIdleWatcher(st), Spool: embedded.NewSpool(0, 0),
		APIAddr: "256.0.0.1:1", V3Addr: "127.0.0.1:0"})
	if err == nil || !strings.Contains(err.Error(), "listen on API address") {
		t.Fatalf("bad address: %v", err)
	}
}

func TestEndpointURLOptions(t *testing.T) {
	p := newPlane(t, func(o *controlplane.Options) {
		o.APIEndpointURL, o.HTTPV3URL, o.DrainDefaultCompression = "https://logplex.example.com/", "https://v3.example.com", "none"
	})
	r := p.do("POST", p.api+"/sessions", `{"channel_id":"1"}`, authH)
	if r.code != 201 || !strings.HasPrefix(r.body, "https://logplex.example.com/sessions/") {
		t.Fatalf("%d %q", r.code, r.body)
	}
	p.channel("ep")
	r = p.do("POST", p.v3+"/v3/channels/ep/drains", `{"url":"https://logs.example.com/"}`, jsonH)
	if !strings.HasPrefix(r.header.Get("Location"), "https://v3.example.com/v3/channels/ep/drains/") || strings.Contains(r.body, "compression") {
		t.Fatalf("location %q body %q", r.header.Get("Location"), r.body)
	}
}
