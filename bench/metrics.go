package bench

import (
	"bufio"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Metrics is one scrape of a Prometheus text page: each metric name with
// the sum of its series (labels dropped).
type Metrics map[string]float64

// ParseMetrics reads the Prometheus text format.
func ParseMetrics(r io.Reader) (Metrics, error) {
	m := Metrics{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		name, rest, ok := strings.Cut(line, " ")
		if i := strings.IndexByte(line, '{'); i >= 0 && (!ok || i < len(name)) {
			j := strings.LastIndexByte(line, '}')
			if j < i {
				continue
			}
			name, rest = line[:i], strings.TrimSpace(line[j+1:])
		} else if !ok {
			continue
		}
		val, _, _ := strings.Cut(strings.TrimSpace(rest), " ") // a timestamp may follow
		v, err := strconv.ParseFloat(val, 64)
		if err != nil {
			continue
		}
		m[name] += v
	}
	return m, sc.Err()
}

// ScrapeMetrics fetches http://<admin>/metrics; admin "" gives empty metrics.
func ScrapeMetrics(admin string) (Metrics, error) {
	if admin == "" {
		return Metrics{}, nil
	}
	c := &http.Client{Timeout: 5 * time.Second}
	res, err := c.Get("http://" + admin + "/metrics")
	if err != nil {
		return nil, fmt.Errorf("metrics: %w", err)
	}
	defer res.Body.Close()
	if res.StatusCode != 200 {
		return nil, fmt.Errorf("metrics: %s", res.Status)
	}
	return ParseMetrics(res.Body)
}

// Delta returns after[name] - before[name].
func Delta(before, after Metrics, name string) float64 { return after[name] - before[name] }
