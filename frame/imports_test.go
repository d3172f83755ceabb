package frame

import (
	"go/parser"
	"go/token"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// allowedImports is everything frame may import (see the package doc).
var allowedImports = map[string]bool{"bytes": true, "encoding/binary": true, "math/bits": true, "strconv": true, "time": true}

// TestImports enforces the package doc: stdlib only, and no I/O, formatting or
// concurrency packages. It also wants the package doc comment in doc.go.
func TestImports(t *testing.T) {
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, parser.ImportsOnly|parser.ParseComments)
		if err != nil {
			t.Fatal(err)
		}
		for _, imp := range f.Imports {
			path, _ := strconv.Unquote(imp.Path.Value)
			if !allowedImports[path] {
				t.Errorf("%s imports %q; frame may import only %v", name, path, allowedImports)
			}
		}
		if name == "doc.go" && (f.Doc == nil || !strings.HasPrefix(f.Doc.Text(), "Package frame ")) {
			t.Errorf("doc.go has no package doc comment")
		}
	}
}
