package bench

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
)

// Tails reads live tail sessions (GET /sessions/<id> with "tail") and feeds
// each line to the recorder as endpoint end0+i.
type Tails struct {
	rec    *Recorder
	cancel context.CancelFunc
	wg     sync.WaitGroup
	bytes  atomic.Int64 // anything received, lines or not
}

// StartTails opens every session URL; endpoint end0+i reads urls[i].
func StartTails(ctx context.Context, rec *Recorder, urls []string, end0 int) (*Tails, error) {
	ctx, cancel := context.WithCancel(ctx)
	t := &Tails{rec: rec, cancel: cancel}
	c := &http.Client{Transport: &http.Transport{DisableCompression: true, MaxIdleConnsPerHost: len(urls)}}
	for i, u := range urls {
		req, err := http.NewRequestWithContext(ctx, "GET", u, nil)
		if err != nil {
			cancel()
			return nil, err
		}
		res, err := c.Do(req)
		if err != nil {
			cancel()
			t.wg.Wait()
			return nil, fmt.Errorf("tail %s: %w", u, err)
		}
		if res.StatusCode != 200 {
			res.Body.Close()
			cancel()
			t.wg.Wait()
			return nil, fmt.Errorf("tail %s: %s", u, res.Status)
		}
		t.wg.Add(1)
		go func() {
			defer t.wg.Done()
			defer res.Body.Close()
			t.read(res, end0+i)
		}()
	}
	return t, nil
}

// Bytes is how much the tails received so far.
func (t *Tails) Bytes() int64 { return t.bytes.Load() }

func (t *Tails) read(res *http.Response, end int) {
	b := t.rec.NewBatch()
	buf := make([]byte, 64<<10)
	n := 0
	for {
		k, err := res.Body.Read(buf[n:])
		if k > 0 {
			t.bytes.Add(int64(k))
			n += k
			data := buf[:n]
			last := bytes.LastIndexByte(data, '\n')
			if last >= 0 {
				if b.Start(end, FormatTail, nowNs()) {
					lines := data[:last+1]
					for len(lines) > 0 {
						i := bytes.IndexByte(lines, '\n')
						b.Add(lines[:i+1])
						lines = lines[i+1:]
					}
					b.Done()
				}
				n = copy(buf, data[last+1:])
			} else if n == len(buf) {
				n = 0 // a line longer than the buffer: not ours
			}
		}
		if err != nil {
			return
		}
	}
}

// Close ends every tail and waits.
func (t *Tails) Close() {
	t.cancel()
	t.wg.Wait()
}
