// Package logplex_test checks the repository's house rules as code: the
// import rules of docs/architecture.md ("Packages and import rules") on the
// whole dependency closure of every package, a doc comment on every
// package, and that the documents the code cites exist in the repository.
package logplex_test

import (
	"encoding/json"
	"fmt"
	"io"
	"os/exec"
	"slices"
	"strings"
	"testing"
)

const mod = "github.com/logplex/logplex/"

type pkg struct {
	ImportPath string
	Doc        string
	Name       string
	Standard   bool
	Module     *struct{ Path string }
	Imports    []string
	GoFiles    []string
	DepOnly    bool
}

// listPackages runs `go list -deps -json` on patterns: the packages named
// and everything they import, transitively, stdlib and third-party included.
func listPackages(t *testing.T, patterns ...string) map[string]*pkg {
	t.Helper()
	out, err := exec.Command("go", append([]string{"list", "-deps", "-json"}, patterns...)...).Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	pkgs := map[string]*pkg{}
	dec := json.NewDecoder(strings.NewReader(string(out)))
	for {
		var p pkg
		if err := dec.Decode(&p); err == io.EOF {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		pkgs[p.ImportPath] = &p
	}
	return pkgs
}

// ours returns the module's own packages (not their dependencies) in order.
func ours(pkgs map[string]*pkg) []*pkg {
	var r []*pkg
	for _, p := range pkgs {
		if !p.DepOnly && !p.Standard {
			r = append(r, p)
		}
	}
	slices.SortFunc(r, func(a, b *pkg) int { return strings.Compare(a.ImportPath, b.ImportPath) })
	return r
}

// rule says what a package's dependency closure may contain: module
// packages by path prefix (relative to the module), minus the forbidden
// ones, and third-party modules by module path. A third-party package
// reached through an allowed third-party module is that module's business
// and is not checked.
type rule struct {
	internal []string // allowed module-internal prefixes (none = stdlib only)
	forbid   []string // module-internal prefixes excluded from internal
	external []string // allowed third-party packages by path prefix (a module path allows the module)
}

const (
	metricsMod = "github.com/VictoriaMetrics/metrics"
	gnetMod    = "github.com/panjf2000/gnet/v2"
	fasthttp   = "github.com/valyala/fasthttp"
	compress   = "github.com/klauspost/compress"
	rueidis    = "github.com/redis/rueidis"
	protowire  = "google.golang.org/protobuf/encoding/protowire"
)

// impls are the store implementations: only cmd (and tests) choose one.
var impls = []string{"store/redisstore", "store/embedded", "store/storetest"}

// rules is docs/architecture.md's import table, most specific prefix first.
var rules = []struct {
	prefix string
	rule   rule
}{
	{"frame", rule{}},
	{"ringbuf", rule{}},
	{"config", rule{}},
	{"internal/testenv", rule{}},
	{"internal/membudget", rule{}},
	{"store/redisstore/redistest", rule{internal: []string{"internal/testenv"}}},
	{"store/redisstore", rule{internal: []string{"config", "store", "internal/membudget"}, forbid: []string{"store/embedded", "store/storetest"},
		external: []string{rueidis, metricsMod}}},
	{"store/embedded", rule{internal: []string{"config", "store", "ringbuf", "internal/membudget"}, forbid: []string{"store/redisstore", "store/storetest"},
		external: []string{metricsMod}}},
	{"store", rule{internal: []string{"config", "store", "internal/membudget"}, forbid: impls, external: []string{metricsMod}}},
	{"dataplane/drain", rule{internal: []string{"frame", "ringbuf", "config", "internal/membudget"},
		external: []string{fasthttp, compress, protowire, metricsMod, "golang.org/x/net/http2"}}},
	{"dataplane", rule{internal: []string{"frame", "ringbuf", "config", "store", "dataplane", "internal/membudget"}, forbid: impls,
		external: []string{gnetMod, fasthttp, compress, protowire, metricsMod, "golang.org/x/net/http2"}}},
	{"controlplane", rule{internal: []string{"frame", "ringbuf", "config", "store", "controlplane", "internal/membudget"}, forbid: impls,
		external: []string{metricsMod}}},
	{"controlrods", rule{internal: []string{"config", "store", "controlrods", "internal/membudget"}, forbid: impls, external: []string{metricsMod}}},
	{"cmd", rule{internal: []string{"frame", "ringbuf", "config", "store", "dataplane", "controlplane", "controlrods", "bench", "internal/readyz", "internal/membudget"},
		forbid:   []string{"store/storetest", "store/redisstore/redistest", "internal/testenv"},
		external: []string{gnetMod, fasthttp, compress, protowire, rueidis, metricsMod, "golang.org/x/net/http2"}}},
	{"internal/readyz", rule{}},
	{"bench", rule{internal: []string{"frame", "config", "bench", "internal/readyz"}, external: []string{metricsMod, "golang.org/x/net/http2"}}},
	{"e2e", rule{internal: []string{"store/redisstore/redistest", "internal/testenv", "internal/readyz"}}},
}

func ruleFor(rel string) (rule, bool) {
	for _, r := range rules {
		if under(rel, r.prefix) {
			return r.rule, true
		}
	}
	return rule{}, false
}

func under(rel, prefix string) bool { return rel == prefix || strings.HasPrefix(rel, prefix+"/") }

// internalOK says whether a module package (path relative to the module)
// may be in the closure of a package ruled by r.
func internalOK(rel string, r rule) bool {
	for _, f := range r.forbid {
		if under(rel, f) {
			return false
		}
	}
	for _, p := range r.internal {
		if under(rel, p) {
			return true
		}
	}
	return false
}

// violations walks the imports of root through module packages and returns
// each module package and third-party module its rule does not allow, with
// the import chain that brought it in.
func violations(pkgs map[string]*pkg, root string, r rule) []string {
	var bad []string
	seen := map[string]bool{root: true}
	type step struct{ path, chain string }
	queue := []step{{root, strings.TrimPrefix(root, mod)}}
	for len(queue) > 0 {
		s := queue[0]
		queue = queue[1:]
		p := pkgs[s.path]
		if p == nil {
			continue
		}
		for _, imp := range p.Imports {
			if seen[imp] {
				continue
			}
			seen[imp] = true
			dep := pkgs[imp]
			chain := s.chain + " -> " + strings.TrimPrefix(imp, mod)
			switch {
			case dep != nil && dep.Standard:
			case strings.HasPrefix(imp, mod):
				if !internalOK(strings.TrimPrefix(imp, mod), r) {
					bad = append(bad, chain)
				}
				queue = append(queue, step{imp, chain})
			case !slices.ContainsFunc(r.external, func(e string) bool { return imp == e || strings.HasPrefix(imp, e+"/") }):
				bad = append(bad, chain)
			}
		}
	}
	return bad
}

func TestImportRules(t *testing.T) {
	pkgs := listPackages(t, "./...")
	for _, p := range ours(pkgs) {
		rel := strings.TrimPrefix(p.ImportPath, mod)
		if p.ImportPath+"/" == mod || len(p.GoFiles) == 0 {
			continue
		}
		r, ok := ruleFor(rel)
		if !ok {
			t.Errorf("%s: no import rule; add it to deps_test.go and docs/architecture.md", rel)
			continue
		}
		for _, v := range violations(pkgs, p.ImportPath, r) {
			t.Errorf("%s: not allowed by docs/architecture.md's import rules", v)
		}
	}
}

func TestEveryPackageHasADocComment(t *testing.T) {
	for _, p := range ours(listPackages(t, "./...")) {
		if len(p.GoFiles) > 0 && strings.TrimSpace(p.Doc) == "" {
			t.Errorf("%s has no package doc comment", p.ImportPath)
		}
	}
}

// TestRulesCatchAViolation makes sure the checker can fail: a synthetic
// dataplane package that imports store/redisstore (and through it rueidis)
// and one that imports gnet through an allowed module package.
func TestRulesCatchAViolation(t *testing.T) {
	pkgs := map[string]*pkg{
		mod + "dataplane/probe":  {ImportPath: mod + "dataplane/probe", Imports: []string{"bytes", mod + "store/redisstore"}},
		mod + "store/redisstore": {ImportPath: mod + "store/redisstore", Imports: []string{mod + "config", rueidis}},
		mod + "config":           {ImportPath: mod + "config"},
		"bytes":                  {ImportPath: "bytes", Standard: true},
		rueidis:                  {ImportPath: rueidis, Module: &struct{ Path string }{rueidis}},
		mod + "frame/probe":      {ImportPath: mod + "frame/probe", Imports: []string{mod + "dataplane/ingest"}},
		mod + "dataplane/ingest": {ImportPath: mod + "dataplane/ingest", Imports: []string{gnetMod}},
		gnetMod:                  {ImportPath: gnetMod, Module: &struct{ Path string }{gnetMod}},
	}
	r, _ := ruleFor("dataplane/probe")
	got := fmt.Sprint(violations(pkgs, mod+"dataplane/probe", r))
	if !strings.Contains(got, "dataplane/probe -> store/redisstore") || !strings.Contains(got, "-> "+rueidis) {
		t.Errorf("dataplane importing store/redisstore: got %s, want both it and rueidis reported", got)
	}
	f, _ := ruleFor("frame/probe")
	if got := violations(pkgs, mod+"frame/probe", f); len(got) != 2 {
		t.Errorf("frame importing dataplane/ingest (gnet): got %v, want 2 violations", got)
	}
}
