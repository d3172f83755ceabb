package e2e

import (
	"bufio"
	"encoding/base64"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/logplex/logplex/internal/testenv"
	"github.com/logplex/logplex/store/redisstore/redistest"
)

// tailTarget is where a tail scenario runs: a control plane's legacy API
// with its Authorization header, and the data planes to post to.
type tailTarget struct {
	api    string // host:port
	header map[string]string
	dps    []*Proc
	admin  string // admin host:port of the control plane (control rods)
}

func basicHeader(user, pass string) map[string]string {
	return map[string]string{"Authorization": "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+pass))}
}

// createChannelTokens creates a legacy channel with the named tokens.
func (tt tailTarget) createChannelTokens(t *testing.T, names ...string) (string, map[string]string) {
	t.Helper()
	body := `{"tokens":["` + strings.Join(names, `","`) + `"]}`
	r := Do(t, "POST", "http://"+tt.api+"/channels", "", "", tt.header, []byte(body))
	if r.Status != 201 {
		t.Fatalf("POST /channels: %d %s", r.Status, r.Body)
	}
	var ch struct {
		ChannelID int               `json:"channel_id"`
		Tokens    map[string]string `json:"tokens"`
	}
	JSON(t, r, &ch)
	return fmt.Sprint(ch.ChannelID), ch.Tokens
}

// sessionPath creates a v2 session and returns the path to GET.
func (tt tailTarget) sessionPath(t *testing.T, body string) string {
	t.Helper()
	r := Do(t, "POST", "http://"+tt.api+"/v2/sessions", "", "", tt.header, []byte(body))
	if r.Status != 201 {
		t.Fatalf("POST /v2/sessions: %d %s", r.Status, r.Body)
	}
	var s struct{ URL string }
	JSON(t, r, &s)
	return s.URL[strings.Index(s.URL, "/sessions/"):]
}

// tailStream is an open session response read line by line.
type tailStream struct {
	lines chan string // closed at the end of the body
	res   *http.Response
}

// openTail GETs a session and returns once the response has started (the
// tail is subscribed then).
func (tt tailTarget) openTail(t *testing.T, body string) *tailStream {
	t.Helper()
	res, err := http.Get("http://" + tt.api + tt.sessionPath(t, body))
	if err != nil {
		t.Fatal(err)
	}
	if res.StatusCode != 200 {
		t.Fatalf("GET session: %d", res.StatusCode)
	}
	s := &tailStream{lines: make(chan string, 100000), res: res}
	t.Cleanup(func() { res.Body.Close() })
	go func() {
		defer close(s.lines)
		sc := bufio.NewScanner(res.Body)
		for sc.Scan() {
			s.lines <- sc.Text()
		}
	}()
	return s
}

// next returns the next line, or false at the end of the stream or after d.
func (s *tailStream) next(d time.Duration) (string, bool) {
	select {
	case l, ok := <-s.lines:
		return l, ok
	case <-time.After(d):
		return "", false
	}
}

// awaitProbe posts a probe to dp until one shows up on the stream: the
// data plane has learnt of the tail (from the change feed).
func awaitProbe(t *testing.T, s *tailStream, dp *Proc, tok, name string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for k := 0; time.Now().Before(deadline); k++ {
		probe := fmt.Sprintf("probe %s %d", name, k)
		if st := postLogs(t, dp, tok, "<134>1 2012-12-10T03:00:48Z h "+tok+" web.1 - - "+probe); st != 204 {
			t.Fatalf("probe to %s: %d", name, st)
		}
		for wait := time.Now().Add(100 * time.Millisecond); time.Now().Before(wait); {
			if l, ok := s.next(time.Until(wait)); ok && strings.HasSuffix(l, "probe "+name+" "+fmt.Sprint(k)) {
				return
			}
		}
	}
	t.Fatalf("no probe from %s reached the tail within 5s", name)
}

var l11Line = regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00 logplex\[1\]: Error L11 \(Tail buffer overflow\) -> This tail session dropped (\d+) messages since \d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00\.$`)

// runTailScenario is the acceptance 1 on tt: a filtered tail gets,
// within 1 s, what is posted to every data plane, in per-sender order, and
// nothing the filters exclude; a session read too slowly gets L11.
func runTailScenario(t *testing.T, tt tailTarget) {
	ch, toks := tt.createChannelTokens(t, "app", "worker")
	app, worker := toks["app"], toks["worker"]
	for i, dp := range tt.dps {
		Eventually(t, 5*time.Second, fmt.Sprintf("channel routes on data plane %d", i), func() bool {
			return postLogs(t, dp, app, "<134>1 2012-12-10T03:00:48Z h "+app+" web.1 - - before the tail") == 204
		})
	}
	s := tt.openTail(t, fmt.Sprintf(`{"channel_id":"%s","num":"0","tail":true,"ps":"web","source":"app"}`, ch))
	for i, dp := range tt.dps {
		awaitProbe(t, s, dp, app, fmt.Sprintf("dp%d", i))
	}

	const n = 50
	bodies := make([][]string, len(tt.dps))
	for i := range tt.dps {
		for k := range n {
			bodies[i] = append(bodies[i],
				fmt.Sprintf("<134>1 2012-12-10T03:00:48Z h %s web.%d - - dp%d seq %d", app, k%3+1, i, k),
				fmt.Sprintf("<134>1 2012-12-10T03:00:48Z h %s worker.1 - - filtered ps", app),
				fmt.Sprintf("<134>1 2012-12-10T03:00:48Z h %s webx.1 - - filtered ps prefix", app))
		}
	}
	done := make(chan int, len(tt.dps))
	for i, dp := range tt.dps { // both data planes at once
		go func() { done <- postLogs(t, dp, app, bodies[i]...) }()
	}
	for range tt.dps {
		if st := <-done; st != 204 {
			t.Fatalf("POST /logs: %d", st)
		}
	}
	for _, dp := range tt.dps { // the other token: source "worker"
		if st := postLogs(t, dp, worker, "<134>1 2012-12-10T03:00:48Z h "+worker+" web.1 - - filtered source"); st != 204 {
			t.Fatalf("POST /logs (worker): %d", st)
		}
	}
	posted := time.Now()
	next := make([]int, len(tt.dps))
	seqLine := regexp.MustCompile(`^2012-12-10T03:00:48Z app\[web\.[123]\]: dp(\d) seq (\d+)$`)
	for got := 0; got < n*len(tt.dps); {
		l, ok := s.next(time.Until(posted.Add(time.Second)))
		if !ok {
			t.Fatalf("after 1 s: %d of %d messages (next per data plane %v)", got, n*len(tt.dps), next)
		}
		if strings.Contains(l, "filtered") {
			t.Fatalf("a filtered message reached the tail: %q", l)
		}
		m := seqLine.FindStringSubmatch(l)
		if m == nil {
			continue // a late probe
		}
		dp, seq := int(m[1][0]-'0'), 0
		fmt.Sscan(m[2], &seq)
		if seq != next[dp] {
			t.Fatalf("data plane %d: got seq %d, want %d (per-sender order)", dp, seq, next[dp])
		}
		next[dp]++
		got++
	}
	t.Logf("%d messages from %d data planes on the tail %v after the last POST", n*len(tt.dps), len(tt.dps), time.Since(posted))
	// An unfiltered line after the filtered ones proves none was merely
	// late: one per data plane, each published after that data plane's
	// filtered lines. The slow reader below (no filter) then hears none of
	// them.
	for i, dp := range tt.dps {
		postLogs(t, dp, app, fmt.Sprintf("<134>1 2012-12-10T03:00:48Z h %s web.1 - - final %d", app, i))
	}
	for finals := 0; finals < len(tt.dps); {
		l, ok := s.next(2 * time.Second)
		if !ok {
			t.Fatalf("final lines missing: %d of %d", finals, len(tt.dps))
		}
		if strings.Contains(l, "filtered") {
			t.Fatalf("a filtered message reached the tail: %q", l)
		}
		if strings.Contains(l, "]: final ") {
			finals++
		}
	}
	slowReaderGetsL11(t, tt, ch, app)
}

// slowReaderGetsL11: a session whose client does not read keeps the newest
// messages and reports the dropped ones with one L11 line (the first
// session, still open, keeps the channel registered on every data plane).
func slowReaderGetsL11(t *testing.T, tt tailTarget, ch, app string) {
	path := tt.sessionPath(t, fmt.Sprintf(`{"channel_id":"%s","num":"0","tail":true}`, ch))
	d := net.Dialer{Control: func(_, _ string, c syscall.RawConn) error {
		var err error
		_ = c.Control(func(fd uintptr) { err = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096) })
		return err
	}}
	conn, err := d.Dial("tcp", tt.api)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	req, _ := http.NewRequest("GET", "http://"+tt.api+path, nil)
	if err := req.Write(conn); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReaderSize(conn, 512)
	res, err := http.ReadResponse(br, req) // headers only: the tail is subscribed
	if err != nil || res.StatusCode != 200 {
		t.Fatalf("slow session: %v %v", res, err)
	}
	// enough to fill the kernel's socket buffers (the server's send buffer
	// grows to 4 MiB) and the session's 1024 messages several times over
	pad := strings.Repeat("x", 1000)
	const bursts, per = 12, 1000
	for b := range bursts {
		var msgs []string
		for k := range per {
			msgs = append(msgs, fmt.Sprintf("<134>1 2012-12-10T03:00:48Z h %s bulk.1 - - %d %s", app, b*per+k, pad))
		}
		if st := postLogs(t, tt.dps[b%len(tt.dps)], app, msgs...); st != 204 {
			t.Fatalf("bulk POST: %d", st)
		}
	}
	for i, dp := range tt.dps { // one marker per sender: each comes after that sender's bulk
		postLogs(t, dp, app, fmt.Sprintf("<134>1 2012-12-10T03:00:48Z h %s bulk.1 - - end marker %d", app, i))
	}
	conn.SetReadDeadline(time.Now().Add(15 * time.Second))
	sc := bufio.NewScanner(res.Body)
	sc.Buffer(nil, 1<<20)
	dropped, lines, markers := 0, 0, 0
	for sc.Scan() {
		l := sc.Text()
		if m := l11Line.FindStringSubmatch(l); m != nil {
			var k int
			fmt.Sscan(m[1], &k)
			dropped += k
		} else {
			lines++
		}
		if strings.Contains(l, "end marker") {
			if markers++; markers == len(tt.dps) {
				break
			}
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatalf("slow session after %d lines: %v", lines, err)
	}
	if want := bursts*per + len(tt.dps); dropped == 0 || dropped+lines != want {
		t.Fatalf("slow reader: %d lines and %d reported dropped, want L11 lines and %d in all", lines, dropped, want)
	}
	t.Logf("slow reader: %d lines delivered, %d dropped and reported as L11", lines, dropped)
}

// TestTailAcrossDataPlanes: acceptance 1 with 2 data planes and 1 control
// plane on Redis.
func TestTailAcrossDataPlanes(t *testing.T) {
	rs := redistest.Start(t)
	c := startSplit(t, []string{"LOGPLEX_CONFIG_REDIS_URL=" + rs.URL()})
	runTailScenario(t, tailTarget{api: c.cp.API, header: c.header, dps: c.dps, admin: c.cp.Adm})
}

// TestTailAcrossDataPlanesOnRedisCluster: the same on a Redis Cluster
// (sharded pub/sub).
func TestTailAcrossDataPlanesOnRedisCluster(t *testing.T) {
	rc := redistest.StartCluster(t, 3)
	c := startSplit(t, []string{"LOGPLEX_CONFIG_REDIS_URL=" + rc.URL()}, "--redis-cluster")
	runTailScenario(t, tailTarget{api: c.cp.API, header: c.header, dps: c.dps, admin: c.cp.Adm})
}

// TestTailEmbedded: acceptance 1 in one `logplex all` (in-process bus),
// then the control rods kill_tail_sessions and deny_tail_sessions.
func TestTailEmbedded(t *testing.T) {
	p := StartAll(t, binPath, t.TempDir())
	tt := tailTarget{api: p.API, header: basicHeader(p.User, p.Pass), dps: []*Proc{p}, admin: p.Adm}
	runTailScenario(t, tt)

	ch, toks := tt.createChannelTokens(t, "app")
	s := tt.openTail(t, fmt.Sprintf(`{"channel_id":"%s","tail":true}`, ch))
	awaitProbe(t, s, p, toks["app"], "rods")
	r := Do(t, "POST", "http://"+p.Adm+"/control-rods/kill_tail_sessions", "", "", nil, nil)
	if r.Status != 200 || !strings.Contains(r.Body, `"killed_tail_sessions":`) {
		t.Fatalf("kill_tail_sessions: %d %s", r.Status, r.Body)
	}
	for {
		if _, ok := <-s.lines; !ok {
			break // every session's stream ended
		}
	}
	if r := Do(t, "POST", "http://"+p.Adm+"/control-rods/deny_tail_sessions", "", "", nil, nil); r.Status != 200 {
		t.Fatalf("deny_tail_sessions: %d %s", r.Status, r.Body)
	}
	postLogs(t, p, toks["app"], "<134>1 2012-12-10T03:00:48Z h "+toks["app"]+" web.1 - - history line")
	Eventually(t, 2*time.Second, "message in history", func() bool {
		return strings.Contains(Do(t, "GET", "http://"+p.API+tt.sessionPath(t, `{"channel_id":"`+ch+`"}`), "", "", nil, nil).Body, "history line")
	})
	start := time.Now()
	r = Do(t, "GET", "http://"+p.API+tt.sessionPath(t, `{"channel_id":"`+ch+`","tail":true}`), "", "", nil, nil)
	if r.Status != 200 || !strings.HasSuffix(r.Body, "web.1]: history line\n") || time.Since(start) > 2*time.Second {
		t.Fatalf("with deny_tail_sessions a tail session must end after its history: %d %q after %v", r.Status, r.Body, time.Since(start))
	}
}

// TestTailCommand: acceptance 2, `logplex tail` against `logplex all`
// prints messages sent after it started, and exits 0 on Ctrl-C.
func TestTailCommand(t *testing.T) {
	p := StartAll(t, binPath, t.TempDir())
	tt := tailTarget{api: p.API, header: basicHeader(p.User, p.Pass), dps: []*Proc{p}}
	ch, toks := tt.createChannelTokens(t, "app")
	tok := toks["app"]
	postLogs(t, p, tok, "<134>1 2012-12-10T03:00:48Z h "+tok+" web.1 - - sent before")
	cmd := exec.Command(binPath, "tail", "--api", "http://"+p.API, "--channel", ch, "--ps", "web", "--num", "10")
	cmd.Env = append(os.Environ(), "LOGPLEX_TAIL_USER="+p.User, "LOGPLEX_TAIL_PASSWORD="+p.Pass, "LOGPLEX_AUTH_KEY=")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr testenv.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() { _ = cmd.Process.Kill() })
	lines := make(chan string, 100)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	// the command says it streams once the session answered: subscribed
	Eventually(t, 10*time.Second, "logplex tail started streaming", func() bool {
		return strings.Contains(stderr.String(), "streaming channel "+ch)
	})
	for k := range 3 { // a filtered message between: it must not print
		postLogs(t, p, tok, fmt.Sprintf("<134>1 2012-12-10T03:00:48Z h %s web.%d - - sent after %d", tok, k+1, k))
		postLogs(t, p, tok, "<134>1 2012-12-10T03:00:48Z h "+tok+" worker.1 - - filtered")
	}
	want := []string{
		"2012-12-10T03:00:48Z app[web.1]: sent before",
		"2012-12-10T03:00:48Z app[web.1]: sent after 0",
		"2012-12-10T03:00:48Z app[web.2]: sent after 1",
		"2012-12-10T03:00:48Z app[web.3]: sent after 2",
	}
	for _, w := range want {
		select {
		case l := <-lines:
			if l != w {
				t.Fatalf("logplex tail printed %q, want %q (stderr: %s)", l, w, stderr.String())
			}
		case <-time.After(2 * time.Second):
			t.Fatalf("logplex tail did not print %q (stderr: %s)", w, stderr.String())
		}
	}
	if err := cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-exited:
		if err != nil {
			t.Fatalf("logplex tail after Ctrl-C: %v (stderr: %s)", err, stderr.String())
		}
	case <-time.After(5 * time.Second):
		t.Fatal("logplex tail did not exit within 5s of Ctrl-C")
	}
}
