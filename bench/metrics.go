package bench

import (
	"bufio"
	"fmt"
	"io"
	"math"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Metrics is one scrape of a Prometheus text page: each metric name with
// the sum of its series (labels dropped); a histogram's buckets are also
// kept apart, as name{le="bound"} (summed over their other labels).
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
		if le, ok := bucketBound(line, name); ok {
			m[name+`{le="`+le+`"}`] += v
		}
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

// bucketBound returns the le label of a histogram bucket's line.
func bucketBound(line, name string) (string, bool) {
	if !strings.HasSuffix(name, "_bucket") {
		return "", false
	}
	_, rest, ok := strings.Cut(line, `le="`)
	if !ok {
		return "", false
	}
	le, _, ok := strings.Cut(rest, `"`)
	return le, ok
}

// HistogramQuantile returns the upper bound of the bucket of histogram
// name (without _bucket) that holds quantile q of what was observed between
// the two scrapes, and how many were; +Inf when q falls past the last
// finite bound, 0 when nothing was observed.
func HistogramQuantile(before, after Metrics, name string, q float64) (bound float64, n float64) {
	n = Delta(before, after, name+"_count")
	if n <= 0 {
		return 0, 0
	}
	prefix := name + `_bucket{le="`
	var bounds []float64
	for k := range after {
		if le, ok := strings.CutPrefix(k, prefix); ok {
			if b, err := strconv.ParseFloat(strings.TrimSuffix(le, `"}`), 64); err == nil {
				bounds = append(bounds, b)
			}
		}
	}
	slices.Sort(bounds)
	for _, b := range bounds {
		k := prefix + strconv.FormatFloat(b, 'g', -1, 64) + `"}`
		if _, ok := after[k]; !ok {
			continue // a bound spelt otherwise (+Inf)
		}
		if Delta(before, after, k) >= q*n {
			return b, n
		}
	}
	return math.Inf(1), n
}

// Delta returns after[name] - before[name].
func Delta(before, after Metrics, name string) float64 { return after[name] - before[name] }
