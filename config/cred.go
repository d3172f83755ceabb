package config

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"strings"
)

// HashPassword returns the stored form of a password: lowercase hex SHA-256.
func HashPassword(pass string) string {
	sum := sha256.Sum256([]byte(pass))
	return hex.EncodeToString(sum[:])
}

// Verify reports whether pass is this credential's password, in constant
// time. A credential stored Logplex-style with a plaintext `pass` field is
// accepted too, so an existing Logplex config Redis keeps working.
func (c *Cred) Verify(pass string) bool {
	if c == nil {
		return false
	}
	if c.PassSHA256 != "" {
		want, err := hex.DecodeString(c.PassSHA256)
		sum := sha256.Sum256([]byte(pass))
		return err == nil && subtle.ConstantTimeCompare(want, sum[:]) == 1
	}
	if c.Pass != "" {
		a := sha256.Sum256([]byte(pass))
		b := sha256.Sum256([]byte(c.Pass))
		return subtle.ConstantTimeCompare(a[:], b[:]) == 1
	}
	return false
}

// NewCredential returns a credential with a generated id (32 uppercase hex)
// and password (64 uppercase hex), as Logplex generates them; the password is
// returned once and stored only as its hash.
func NewCredential(name string, fullAPI, anyChannel bool) (*Cred, string) {
	id := randomHex(16)
	pass := randomHex(32)
	return &Cred{ID: id, Name: name, PassSHA256: HashPassword(pass), FullAPI: fullAPI, AnyChannel: anyChannel}, pass
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return strings.ToUpper(hex.EncodeToString(b))
}

// ParseBasic decodes the value of an Authorization header "Basic <b64>" into
// user and password, split at the first ':' (docs/logplex.md §2.2.1, §4.1.1). raw is the
// undecoded text after "Basic " (compared raw against LOGPLEX_AUTH_KEY).
// ok is false when the scheme is not "Basic ", the base64 is invalid or there
// is no ':' — every one of them an authentication failure (401), never a 500.
func ParseBasic(header string) (user, pass, raw string, ok bool) {
	raw, found := strings.CutPrefix(header, "Basic ")
	if !found {
		return "", "", "", false
	}
	dec, err := base64.StdEncoding.Strict().DecodeString(raw)
	if err != nil {
		return "", "", raw, false
	}
	user, pass, ok = strings.Cut(string(dec), ":")
	return user, pass, raw, ok
}

// AuthKeyMatches compares the raw Basic value with LOGPLEX_AUTH_KEY in
// constant time (Logplex compares it undecoded). An empty key never matches.
func AuthKeyMatches(raw, key string) bool {
	if key == "" {
		return false
	}
	a := sha256.Sum256([]byte(raw))
	b := sha256.Sum256([]byte(key))
	return subtle.ConstantTimeCompare(a[:], b[:]) == 1
}
