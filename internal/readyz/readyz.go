// Package readyz waits for a started logplex process to be ready: the
// harnesses that start the real binary (the e2e tests and logplex bench)
// poll its admin /readyz.
package readyz

import (
	"fmt"
	"io"
	"net/http"
	"time"
)

// Wait polls GET http://adminAddr/readyz until it answers 200, the process
// ends (done closes), or timeout passes; the error carries the last answer.
func Wait(adminAddr string, done <-chan struct{}, timeout time.Duration) error {
	c := &http.Client{Timeout: 2 * time.Second}
	deadline := time.Now().Add(timeout)
	last := "no answer"
	for {
		select {
		case <-done:
			return fmt.Errorf("exited before it was ready (/readyz: %s)", last)
		default:
		}
		if res, err := c.Get("http://" + adminAddr + "/readyz"); err != nil {
			last = err.Error()
		} else {
			b, _ := io.ReadAll(io.LimitReader(res.Body, 4096))
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				return nil
			}
			last = fmt.Sprintf("%d %s", res.StatusCode, b)
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("not ready within %s (/readyz: %s)", timeout, last)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
