package dataplane

import (
	"context"
	"encoding/json"
	"time"

	"github.com/logplex/logplex/dataplane/drain"
)

// publishStatus reports every running drain's status to the status board
// every StatusInterval, so the control plane's drain status endpoint can sum
// the nodes; an entry lives three intervals, so a stopped node drops out.
func (d *DataPlane) publishStatus(ctx context.Context) {
	if d.opts.StatusBoard == nil {
		return
	}
	t := time.NewTicker(d.opts.StatusInterval)
	defer t.Stop()
	for {
		select {
		case <-t.C:
		case <-ctx.Done():
			return
		}
		d.putStatus(ctx)
	}
}

func (d *DataPlane) putStatus(ctx context.Context) {
	docs := map[int64][]byte{}
	d.Drains.Each(func(dr *drain.Drain) {
		if b, err := json.Marshal(dr.Status()); err == nil {
			docs[dr.Config.ID] = b
		}
	})
	if len(docs) == 0 {
		return
	}
	cctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	if err := d.opts.StatusBoard.PutDrainStatus(cctx, d.opts.NodeName, docs, 3*d.opts.StatusInterval); err != nil {
		d.log.Debug("drain status not published", "err", err)
	}
}
