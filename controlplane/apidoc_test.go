package controlplane_test

import (
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// TestAPIDoc replays every example of docs/api.md against a live server:
// each request is sent as written (placeholders filled in), and the
// response must have the documented status, the documented headers and a
// body matching the documented one (generated values as placeholders). It
// also checks that every route has an example.
func TestAPIDoc(t *testing.T) {
	doc, err := os.ReadFile("../docs/api.md")
	if err != nil {
		t.Fatal(err)
	}
	p := newPlane(t, nil)
	vars := map[string]string{}
	examples := parseDoc(t, string(doc))
	for i, ex := range examples {
		if ex.seed != "" {
			ch, msg, _ := strings.Cut(fill(ex.seed, vars), ": ")
			p.seed(ch, msg)
			continue
		}
		replay(t, p, i, ex, vars)
	}
	checkRouteCoverage(t, examples)
}

// docExample is one request/response pair, or a seed directive.
type docExample struct {
	seed          string
	request, resp string
}

var (
	reBlock = regexp.MustCompile("(?s)```http\n(.*?)```|<!-- seed (.*?) -->")
	reVar   = regexp.MustCompile(`\{\{(\w+)(?::(\w+))?\}\}`)
	kinds   = map[string]string{"int": `\d+`, "uuid": reUUID, "token": `t\.` + reUUID, "dtoken": `d\.` + reUUID,
		"hex": `[0-9A-F]+`, "date": `[0-9T:.+Z-]+`, "any": `.*?`}
)

func parseDoc(t *testing.T, doc string) []docExample {
	var out []docExample
	var pending string
	for _, m := range reBlock.FindAllStringSubmatch(doc, -1) {
		switch {
		case m[2] != "":
			out = append(out, docExample{seed: m[2]})
		case pending == "":
			pending = m[1]
		default:
			out = append(out, docExample{request: pending, resp: m[1]})
			pending = ""
		}
	}
	if pending != "" {
		t.Fatal("api.md: a request block has no response block")
	}
	return out
}

// fill substitutes {{name}} with captured values and <AUTH_KEY>.
func fill(s string, vars map[string]string) string {
	s = strings.ReplaceAll(s, "<AUTH_KEY>", testKey)
	return reVar.ReplaceAllStringFunc(s, func(v string) string { return vars[reVar.FindStringSubmatch(v)[1]] })
}

func replay(t *testing.T, p *plane, i int, ex docExample, vars map[string]string) {
	t.Helper()
	head, body, _ := strings.Cut(fill(ex.request, vars), "\n\n")
	lines := strings.Split(strings.TrimSuffix(head, "\n"), "\n")
	method, target, _ := strings.Cut(strings.TrimSuffix(lines[0], " HTTP/1.1"), " ")
	var h hdr
	base := p.api
	for _, l := range lines[1:] {
		k, v, _ := strings.Cut(l, ": ")
		if k == "Host" {
			if strings.HasSuffix(v, ":8002") {
				base = p.v3
			}
			continue
		}
		h = append(h, k, v)
	}
	r := p.do(method, base+target, strings.TrimSuffix(body, "\n"), h)
	what := "example " + strconv.Itoa(i) + " (" + lines[0] + ")"
	rhead, rbody, _ := strings.Cut(ex.resp, "\n\n")
	rlines := strings.Split(strings.TrimSuffix(rhead, "\n"), "\n")
	if got := "HTTP/1.1 " + r.status; got != rlines[0] {
		t.Fatalf("%s: status %q, documented %q; body %q", what, got, rlines[0], r.body)
	}
	for _, l := range rlines[1:] {
		k, v, _ := strings.Cut(l, ": ")
		got := r.header.Get(k)
		if k == "Transfer-Encoding" {
			got = strings.Join(r.te, ",")
		}
		matchCapture(t, what+" header "+k, v, got, vars)
	}
	matchCapture(t, what+" body", strings.TrimSuffix(rbody, "\n"), strings.TrimSuffix(r.body, "\n"), vars)
}

// matchCapture matches got against a documented text with placeholders,
// recording new captures in vars.
func matchCapture(t *testing.T, what, doc, got string, vars map[string]string) {
	t.Helper()
	var re strings.Builder
	var names []string
	last := 0
	for _, m := range reVar.FindAllStringSubmatchIndex(doc, -1) {
		re.WriteString(regexp.QuoteMeta(doc[last:m[0]]))
		name, kind := doc[m[2]:m[3]], ""
		if m[4] >= 0 {
			kind = doc[m[4]:m[5]]
		}
		if kind == "" {
			re.WriteString(regexp.QuoteMeta(vars[name]))
		} else {
			re.WriteString("(" + kinds[kind] + ")")
			names = append(names, name)
		}
		last = m[1]
	}
	re.WriteString(regexp.QuoteMeta(doc[last:]))
	mm := regexp.MustCompile("(?s)^" + re.String() + "$").FindStringSubmatch(got)
	if mm == nil {
		t.Fatalf("%s:\n got %q\n documented %q", what, got, fill(doc, vars))
	}
	for i, n := range names {
		vars[n] = mm[i+1]
	}
}

// documentedRoutes: every route of both listeners, as "METHOD regexp" on
// the documented request line.
var documentedRoutes = []string{
	`POST /channels$`, `GET /v2/channels/\d+$`, `GET /channels/\d+/info$`, `POST /channels/\d+/token$`,
	`POST /v2/channels/\d+/tokens$`, `POST /channels/\d+/drains/tokens$`, `POST /v2/channels/\d+/drains/\d+$`,
	`POST /v2/channels/\d+/drains$`, `DELETE /v2/channels/\d+/drains/\d+$`, `POST /channels/\d+/drains/\d+$`,
	`POST /channels/\d+/drains$`, `GET /channels/\d+/drains$`, `DELETE /channels/\d+/drains$`, `POST /sessions$`,
	`POST /v2/sessions$`, `POST /v2/canary-sessions$`, `GET /sessions/[\w-]+$`, `GET /v2/canary-fetch/[\w-]+$`,
	`GET /healthcheck$`, `DELETE /channels/\d+$`, `DELETE /v2/channels/\d+$`, `POST /\S+/load$`,
	`PUT /v3/channels/[^/]+$`, `GET /v3/channels/[^/]+$`, `DELETE /v3/channels/[^/]+$`, `POST /v3/channels/[^/]+/tokens$`,
	`POST /v3/channels/[^/]+/drains$`, `PUT /v3/channels/[^/]+/drains/\d+$`, `DELETE /v3/channels/[^/]+/drains/\d+$`,
	`GET /v3/channels/[^/]+/logs\?num=\d+$`, `POST /v3/sessions$`, `GET /v3/healthcheck$`,
	`POST /v3/credentials$`, `GET /v3/credentials$`, `GET /v3/credentials/\w+$`, `DELETE /v3/credentials/\w+$`,
	`PUT /v3/channels/[^/]+/flags$`, `GET /v3/channels/[^/]+/flags$`,
}

func checkRouteCoverage(t *testing.T, examples []docExample) {
	for _, route := range documentedRoutes {
		re := regexp.MustCompile("^" + route)
		found := false
		for _, ex := range examples {
			line, _, _ := strings.Cut(ex.request, "\n")
			line = strings.TrimSuffix(reVar.ReplaceAllString(line, "1"), " HTTP/1.1")
			if ex.seed == "" && re.MatchString(line) {
				found = true
				break
			}
		}
		if !found {
			t.Errorf("docs/api.md has no example for %s", route)
		}
	}
}
