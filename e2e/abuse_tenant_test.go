package e2e

// The per-tenant bounds of issue 16 (docs/security.md) replayed through
// the real binary: what one application's credentials can ask for is
// refused with a clear status, and the data plane's bounds count when they
// bite. The other cases (memory, descriptors, slow clients, admin port)
// have tests of their own in abuse_api_test.go and abuse_ingest_test.go.

import (
	jsonpkg "encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"
)

func TestAbuseTenantBounds(t *testing.T) {
	p := StartAll(t, binPath, t.TempDir(), "--max-drain-reservations-per-channel", "3",
		"--max-frame-ids-per-sender", "5", "--max-drain-metric-series", "2",
		"--shutdown-timeout", "2s") // the series test's drains cannot deliver its message: do not flush for long
	api := "http://" + p.API
	post := func(url, body string) Resp { return Do(t, "POST", url, p.User, p.Pass, nil, []byte(body)) }
	id, tok := createChannel(t, p, "app")

	t.Run("drains to internal addresses", func(t *testing.T) {
		for _, u := range []string{"https://100.100.100.200/", "https://100.64.0.1/", "https://192.0.0.10/",
			"https://198.18.0.1/", "syslog://[64:ff9b::a00:1]:514", "https://[2002:a00:1::]/", "https://[fec0::1]/"} {
			if r := post(api+"/v2/channels/"+id+"/drains", `{"url":"`+u+`"}`); r.Status != 422 {
				t.Errorf("drain %s: %d %s, want 422", u, r.Status, r.Body)
			}
		}
	})
	t.Run("token names are APP-NAMEs", func(t *testing.T) {
		for _, name := range []string{"a b", `x\r\ny`, `nul\u0000`, strings.Repeat("n", 49)} {
			if r := post(api+"/v2/channels/"+id+"/tokens", `{"name":"`+name+`"}`); r.Status != 400 {
				t.Errorf("token name %q: %d %s, want 400", name, r.Status, r.Body)
			}
		}
	})
	t.Run("tokens per channel", func(t *testing.T) {
		names := make([]string, 101) // --max-tokens-per-channel is 100
		for i := range names {
			names[i] = fmt.Sprint("t", i)
		}
		body, _ := jsonpkg.Marshal(map[string]any{"tokens": names})
		r := Do(t, "PUT", "http://"+p.V3+"/v3/channels/many", p.User, p.Pass, map[string]string{"Content-Type": "application/json"}, body)
		if r.Status != 422 {
			t.Errorf("PUT with 101 tokens: %d %s, want 422", r.Status, r.Body)
		}
	})
	t.Run("drain reservations per channel", func(t *testing.T) {
		for i := range 4 {
			r := post(api+"/channels/"+id+"/drains/tokens", "")
			if want := map[bool]int{true: 201, false: 422}[i < 3]; r.Status != want {
				t.Errorf("reservation %d: %d %s, want %d", i+1, r.Status, r.Body, want)
			}
		}
	})
	t.Run("session bodies", func(t *testing.T) {
		body := `{"channel_id":"` + id + `","num":"1","x":"` + strings.Repeat("a", 5000) + `"}`
		if r := post(api+"/v2/sessions", body); r.Status != 413 {
			t.Errorf("a 5 KB session body: %d, want 413", r.Status)
		}
	})
	t.Run("numeric channel ids belong to the legacy counter", func(t *testing.T) {
		r := Do(t, "PUT", "http://"+p.V3+"/v3/channels/"+fmt.Sprint(1000+time.Now().Second()), p.User, p.Pass,
			map[string]string{"Content-Type": "application/json"}, []byte(`{"tokens":["planted"]}`))
		if r.Status != 422 {
			t.Errorf("PUT /v3/channels/<digits>: %d %s, want 422", r.Status, r.Body)
		}
	})
	t.Run("frame-id keys per sender", func(t *testing.T) {
		before := Metric(t, p.Adm, "logplex_logs_frame_ids_over_limit_total")
		frame := []byte(Frame("<134>1 2012-12-10T03:00:48Z host " + tok + " web.1 - - frame id"))
		for i := range 8 {
			r := Do(t, "POST", "http://"+p.Logs+"/logs", "token", tok, map[string]string{
				"Content-Type": "application/logplex-1", "Logplex-Frame-Id": fmt.Sprintf("%032X", i+1)}, frame)
			if r.Status != 204 {
				t.Fatalf("POST /logs %d: %d", i, r.Status)
			}
		}
		if over := Metric(t, p.Adm, "logplex_logs_frame_ids_over_limit_total") - before; over != 3 {
			t.Errorf("frame ids over the limit of 5: counted %v of 8, want 3", over)
		}
	})
	t.Run("metric series per drain", func(t *testing.T) {
		for i := range 4 {
			if r := post(api+"/v2/channels/"+id+"/drains", fmt.Sprintf(`{"url":"https://drain%d.example.com/"}`, i)); r.Status != 201 {
				t.Fatalf("drain %d: %d %s", i, r.Status, r.Body)
			}
		}
		Eventually(t, 10*time.Second, "drains beyond --max-drain-metric-series counted (with their first message)", func() bool {
			postLogs(t, p, tok, "<134>1 2012-12-10T03:00:48.123456Z erlang "+tok+" console.1 - - series")
			return Metric(t, p.Adm, "logplex_drain_series_capped_total") == 2
		})
	})
}
