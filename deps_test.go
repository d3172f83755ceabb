// Package logplex_test checks the repository's house rules as code: the
// import rules of ARCHITECTURE.md §3 and a doc comment on every package.
package logplex_test

import (
	"encoding/json"
	"io"
	"os/exec"
	"strings"
	"testing"
)

const mod = "github.com/logplex/logplex/"

type pkg struct {
	ImportPath string
	Doc        string
	Name       string
	Imports    []string
	GoFiles    []string
}

func listPackages(t *testing.T) []pkg {
	t.Helper()
	out, err := exec.Command("go", "list", "-json", "./...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	var pkgs []pkg
	dec := json.NewDecoder(strings.NewReader(string(out)))
	for {
		var p pkg
		if err := dec.Decode(&p); err == io.EOF {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		pkgs = append(pkgs, p)
	}
	return pkgs
}

// rule says which imports a package (by path prefix, relative to the
// module) may have: internal packages by prefix, third-party modules by prefix.
type rule struct {
	internal []string // allowed module-internal prefixes ("" = none)
	external []string // allowed third-party prefixes
}

var metricsMod = "github.com/VictoriaMetrics/metrics"

// rules is ARCHITECTURE.md §3, most specific prefix first.
var rules = []struct {
	prefix string
	rule   rule
}{
	{"frame", rule{}},
	{"ringbuf", rule{}},
	{"config", rule{}},
	{"store/redisstore", rule{[]string{"config", "store"}, []string{"github.com/redis/rueidis", metricsMod}}},
	{"store/embedded", rule{[]string{"config", "store", "ringbuf"}, []string{metricsMod}}},
	{"store", rule{[]string{"config", "store"}, []string{metricsMod}}},
	{"dataplane/ingest", rule{[]string{"frame", "ringbuf", "config", "store", "dataplane"},
		[]string{"github.com/panjf2000/gnet", "github.com/valyala/fasthttp", "github.com/klauspost/compress", metricsMod}}},
	{"dataplane/drain", rule{[]string{"frame", "ringbuf", "config", "store", "dataplane"},
		[]string{"github.com/valyala/fasthttp", "github.com/klauspost/compress", "google.golang.org/protobuf/encoding/protowire", metricsMod}}},
	{"dataplane", rule{[]string{"frame", "ringbuf", "config", "store", "dataplane"}, []string{metricsMod}}},
	{"controlplane", rule{[]string{"frame", "ringbuf", "config", "store", "controlplane"}, []string{metricsMod}}},
	{"controlrods", rule{[]string{"config", "store", "controlrods"}, []string{metricsMod}}},
	{"cmd", rule{[]string{"frame", "ringbuf", "config", "store", "dataplane", "controlplane", "controlrods", "bench"}, []string{metricsMod}}},
	{"bench", rule{[]string{"frame", "config", "bench"}, []string{metricsMod}}},
	{"e2e", rule{[]string{"store/redisstore/redistest"}, nil}},
}

func ruleFor(rel string) (rule, bool) {
	for _, r := range rules {
		if rel == r.prefix || strings.HasPrefix(rel, r.prefix+"/") {
			return r.rule, true
		}
	}
	return rule{}, false
}

func allowed(imp string, r rule) bool {
	if rel, ok := strings.CutPrefix(imp, mod); ok {
		for _, p := range r.internal {
			if rel == p || strings.HasPrefix(rel, p+"/") {
				return true
			}
		}
		return false
	}
	if !strings.Contains(strings.Split(imp, "/")[0], ".") {
		return true // standard library
	}
	for _, p := range r.external {
		if strings.HasPrefix(imp, p) {
			return true
		}
	}
	return false
}

func TestImportRules(t *testing.T) {
	for _, p := range listPackages(t) {
		rel := strings.TrimPrefix(p.ImportPath, mod)
		if rel == "github.com/logplex/logplex" || len(p.GoFiles) == 0 {
			continue
		}
		r, ok := ruleFor(rel)
		if !ok {
			t.Errorf("%s: no import rule; add it to deps_test.go and ARCHITECTURE.md §3", rel)
			continue
		}
		for _, imp := range p.Imports {
			if !allowed(imp, r) {
				t.Errorf("%s imports %s: not allowed by ARCHITECTURE.md §3", rel, imp)
			}
		}
	}
}

func TestEveryPackageHasADocComment(t *testing.T) {
	for _, p := range listPackages(t) {
		if len(p.GoFiles) > 0 && strings.TrimSpace(p.Doc) == "" {
			t.Errorf("%s has no package doc comment", p.ImportPath)
		}
	}
}

// TestRulesCatchAViolation makes sure the checker can fail.
func TestRulesCatchAViolation(t *testing.T) {
	r, _ := ruleFor("dataplane/route")
	if allowed(mod+"controlplane", r) || allowed("github.com/redis/rueidis", r) {
		t.Fatal("dataplane may not import controlplane or rueidis")
	}
	f, _ := ruleFor("frame")
	if allowed(mod+"config", f) || !allowed("bytes", f) {
		t.Fatal("frame: stdlib only")
	}
}
