// Package auth decides who may use the control-plane API (docs/logplex.md §4.1) and
// manages API credentials.
//
//	Authorization: Basic <LOGPLEX_AUTH_KEY>      the raw key, not base64 (Logplex)
//	Authorization: Basic base64(<id>:<password>) a credential with full_api
//
// Credentials live in the config store as cred:<id> hashes (password stored
// as its SHA-256; Logplex's plaintext "pass" field is accepted too). They are
// created, listed and revoked by `logplex cred` and by the v3 credentials
// extension, both through the functions here.
//
// auth imports config, store and the standard library only.
package auth

import "github.com/logplex/logplex/config"

// Checker checks Authorization headers against the auth key and the
// credentials of a snapshot.
type Checker struct {
	// AuthKey is LOGPLEX_AUTH_KEY; "" disables key authentication.
	AuthKey string
}

// API reports whether header authorises API use: the raw auth key, or a
// credential with full_api whose password matches (constant time).
func (c Checker) API(header string, snap *config.Snapshot) bool {
	user, pass, raw, ok := config.ParseBasic(header)
	if config.AuthKeyMatches(raw, c.AuthKey) {
		return true
	}
	if !ok || snap == nil {
		return false
	}
	cred := snap.Cred(user)
	return cred != nil && cred.FullAPI && cred.Verify(pass)
}

// Key reports whether header carries the raw auth key (credential
// management is reserved to the operator holding it).
func (c Checker) Key(header string) bool {
	_, _, raw, _ := config.ParseBasic(header)
	return config.AuthKeyMatches(raw, c.AuthKey)
}
