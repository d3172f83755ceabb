package logplex_test

import (
	"bufio"
	"bytes"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"
)

// repoFiles lists every file of the repository that git tracks or would
// track (untracked files not ignored included), so a new file is checked
// before its first commit.
func repoFiles(t *testing.T) []string {
	t.Helper()
	out, err := exec.Command("git", "ls-files", "--cached", "--others", "--exclude-standard").Output()
	if err != nil {
		t.Fatalf("git ls-files: %v", err)
	}
	var files []string
	for f := range strings.SplitSeq(strings.TrimSpace(string(out)), "\n") {
		if _, err := os.Stat(f); err == nil { // deleted but not yet committed: gone
			files = append(files, f)
		}
	}
	if len(files) < 50 {
		t.Fatalf("git ls-files listed %d files; run the test from the repository", len(files))
	}
	return files
}

// reSection matches a section number after "§": §3, §5.4, §2.2.1;
// reOtherDoc, the text before it, when the section is an RFC's ("RFC 9110 §5.6.2").
var (
	reSection  = regexp.MustCompile(`§(\d+(?:\.\d+)*)`)
	reOtherDoc = regexp.MustCompile(`RFC ?\d+,? $`)
)

// logplexSections returns the section numbers docs/logplex.md has headings for.
func logplexSections(t *testing.T) map[string]bool {
	t.Helper()
	b, err := os.ReadFile("docs/logplex.md")
	if err != nil {
		t.Fatal(err)
	}
	secs := map[string]bool{}
	reHeading := regexp.MustCompile(`^#{2,4} §(\d+(?:\.\d+)*) \S`)
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		if m := reHeading.FindStringSubmatch(sc.Text()); m != nil {
			secs[m[1]] = true
		}
	}
	return secs
}

// TestSectionsCitedExist: every "§N.M" written anywhere in the repository
// ("docs/logplex.md §5.4", "docs/logplex.md §5.4", a bare "§5.4" in frame's docs),
// except an RFC's ("RFC 9110 §5.6.2"), is a heading of docs/logplex.md,
// which describes the Logplex behaviour the code relies on. No file is
// skipped.
func TestSectionsCitedExist(t *testing.T) {
	secs := logplexSections(t)
	if len(secs) < 30 {
		t.Fatalf("docs/logplex.md has %d section headings; want the cited ones", len(secs))
	}
	cited := 0
	for _, f := range repoFiles(t) {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for i, line := range strings.Split(string(b), "\n") {
			for _, m := range reSection.FindAllStringSubmatchIndex(line, -1) {
				if reOtherDoc.MatchString(line[:m[0]]) {
					continue // a section of an RFC, not of docs/logplex.md
				}
				sec := line[m[2]:m[3]]
				cited++
				if !secs[sec] {
					t.Errorf("%s:%d cites §%s, which docs/logplex.md has no heading for", f, i+1, sec)
				}
			}
		}
	}
	if cited < 100 {
		t.Errorf("found %d section citations; the repository has more than 150", cited)
	}
}

// outside are the names of documents that live outside the repository; a
// clone has none of them. Written in pieces so this file does not match.
var outside = []string{"../" + "shared", "/work/" + "shared", "logplex" + "-spec.md",
	"ARCHITECTURE" + ".md", "DEPENDENCIES" + ".md", "STYLE" + ".md"}

// TestNoReferenceOutsideTheRepository: no file points at a document that a
// clone of the repository does not have. No file is skipped.
func TestNoReferenceOutsideTheRepository(t *testing.T) {
	for _, f := range repoFiles(t) {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for i, line := range strings.Split(string(b), "\n") {
			for _, o := range outside {
				if strings.Contains(line, o) {
					t.Errorf("%s:%d refers to %s, which is not in the repository: %s", f, i+1, o, strings.TrimSpace(line))
				}
			}
		}
	}
}
