package redisstore

import (
	"context"
	"time"

	"github.com/redis/rueidis"

	"github.com/logplex/logplex/store"
)

// The guard's keys (store.EpochStore): the config's epoch, a random id set
// once (SETNX) by the first config write or by the first watcher that loads
// a non-empty config without one (a Logplex config Redis), and the latest
// operator acceptance, "<epoch> <RFC 3339 time>" (`logplex config accept`).
// Logplex ignores both.
const (
	EpochKey    = "logplex:config:epoch"
	AcceptedKey = "logplex:config:accepted"
)

var _ store.EpochStore = (*Config)(nil)

// Epoch implements store.EpochStore: GET of both keys.
func (c *Config) Epoch(ctx context.Context) (store.Epoch, error) {
	cl, _, err := c.client()
	if err != nil {
		return store.Epoch{}, err
	}
	cctx, cancel := c.call(ctx)
	defer cancel()
	res := cl.DoMulti(cctx, cl.B().Get().Key(EpochKey).Build(), cl.B().Get().Key(AcceptedKey).Build())
	var out [2]string
	for i, r := range res {
		v, err := r.ToString()
		if err != nil && !rueidis.IsRedisNil(err) {
			return store.Epoch{}, failure(ctx, "GET epoch", err)
		}
		out[i] = v
	}
	return store.Epoch{ID: out[0], Accepted: out[1]}, nil
}

// EnsureEpoch implements store.EpochStore: SETNX, then GET.
func (c *Config) EnsureEpoch(ctx context.Context, id string) (string, error) {
	cl, _, err := c.client()
	if err != nil {
		return "", err
	}
	cctx, cancel := c.call(ctx)
	defer cancel()
	res := cl.DoMulti(cctx, cl.B().Setnx().Key(EpochKey).Value(id).Build(), cl.B().Get().Key(EpochKey).Build())
	if err := res[0].Error(); err != nil {
		return "", failure(ctx, "SETNX epoch", err)
	}
	v, err := res[1].ToString()
	if err != nil {
		return "", failure(ctx, "GET epoch", err)
	}
	return v, nil
}

// Accept implements store.EpochStore: EnsureEpoch, then SET of an
// acceptance of that epoch, now.
func (c *Config) Accept(ctx context.Context) (store.Epoch, error) {
	id, err := c.EnsureEpoch(ctx, store.NewEpochID())
	if err != nil {
		return store.Epoch{}, err
	}
	cl, _, err := c.client()
	if err != nil {
		return store.Epoch{}, err
	}
	acc := store.Acceptance(id, time.Now())
	cctx, cancel := c.call(ctx)
	defer cancel()
	if err := cl.Do(cctx, cl.B().Set().Key(AcceptedKey).Value(acc).Build()).Error(); err != nil {
		return store.Epoch{}, failure(ctx, "SET accepted", err)
	}
	return store.Epoch{ID: id, Accepted: acc}, nil
}

// setEpoch is the SETNX that gives a config its epoch with its first write.
func setEpoch(cl rueidis.Client) rueidis.Completed {
	return cl.B().Setnx().Key(EpochKey).Value(store.NewEpochID()).Build()
}
