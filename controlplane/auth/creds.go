package auth

import (
	"context"
	"errors"
	"fmt"
	"sort"

	"github.com/logplex/logplex/config"
	"github.com/logplex/logplex/store"
)

// Grants a credential may hold (docs/logplex.md §4.1.2).
const (
	GrantFullAPI    = "full_api"    // use the API
	GrantAnyChannel = "any_channel" // POST /logs to any channel, routing by each message's token
)

// ErrUnknownGrant is returned for a grant other than full_api and any_channel.
var ErrUnknownGrant = errors.New("unknown grant (known: full_api, any_channel)")

// ErrNoSuchCred is returned when revoking a credential that does not exist.
var ErrNoSuchCred = errors.New("no such credential")

// NewCred returns a new credential with the given name and grants and its
// password (shown once; only its hash is stored).
func NewCred(name string, grants []string) (*config.Cred, string, error) {
	full, anyCh := false, false
	for _, g := range grants {
		switch g {
		case GrantFullAPI:
			full = true
		case GrantAnyChannel:
			anyCh = true
		default:
			return nil, "", fmt.Errorf("%w: %q", ErrUnknownGrant, g)
		}
	}
	c, pass := config.NewCredential(name, full, anyCh)
	return c, pass, nil
}

// Grants lists a credential's grants in a fixed order.
func Grants(c *config.Cred) []string {
	g := []string{}
	if c.FullAPI {
		g = append(g, GrantFullAPI)
	}
	if c.AnyChannel {
		g = append(g, GrantAnyChannel)
	}
	return g
}

// Store writes c and returns the change-feed version that includes it.
func Store(ctx context.Context, st store.ConfigStore, c *config.Cred) (string, error) {
	v, err := st.Write(ctx, config.Change{Key: config.CredKey(c.ID), Fields: config.CredHash(c)})
	if err != nil {
		return "", fmt.Errorf("store credential %s: %w", c.ID, err)
	}
	return v, nil
}

// Revoke deletes credential id if snap has it and returns the version that
// includes the delete.
func Revoke(ctx context.Context, st store.ConfigStore, snap *config.Snapshot, id string) (string, error) {
	if snap.Cred(id) == nil {
		return "", fmt.Errorf("revoke %q: %w", id, ErrNoSuchCred)
	}
	v, err := st.Write(ctx, config.Change{Key: config.CredKey(id)})
	if err != nil {
		return "", fmt.Errorf("revoke credential %s: %w", id, err)
	}
	return v, nil
}

// List returns the credentials of snap sorted by id.
func List(snap *config.Snapshot) []*config.Cred {
	var out []*config.Cred
	snap.EachCred(func(c *config.Cred) bool { out = append(out, c); return true })
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}
