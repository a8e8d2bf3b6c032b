package jwtx

import (
	"context"
	"errors"
	"time"
)

// remoteKeys returns the RemoteKeySet that follows cfg's JWKSURL or its
// discovery document, with cfg.Remote's fetch settings and cfg's
// algorithms (every asymmetric one by default).
func remoteKeys(cfg Issuer) (*RemoteKeySet, typedResolver, error) {
	rc := cfg.Remote
	rc.URL, rc.Issuer, rc.Discovery = cfg.JWKSURL, cfg.Issuer, cfg.Discovery
	rc.Algorithms = nil
	for _, alg := range cmpOr(cfg.Algorithms, asymmetricAlgs) {
		if alg != AlgHS256 { // an HMAC secret never comes from a JWK Set
			rc.Algorithms = append(rc.Algorithms, alg)
		}
	}
	r, err := NewRemoteKeySet(rc)
	if err != nil {
		return nil, nil, err
	}
	return r, r, nil
}

// Loaded reports whether the set has ever been fetched successfully. Until
// it has, a Validator answers the issuer's tokens with ErrKeysUnavailable
// (retry) rather than ErrUnknownKey.
func (r *RemoteKeySet) Loaded() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.keys != nil
}

// RefreshUntilLoaded calls Refresh every retry (default 200ms when not
// positive) until one succeeds or ctx is done, for a service that starts
// before its issuer: bound it with context.WithTimeout. The error joins
// ctx's with the last fetch's.
func (r *RemoteKeySet) RefreshUntilLoaded(ctx context.Context, retry time.Duration) error {
	if retry <= 0 {
		retry = 200 * time.Millisecond
	}
	t := time.NewTicker(retry)
	defer t.Stop()
	for {
		err := r.Refresh(ctx)
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return errors.Join(ctx.Err(), err)
		case <-t.C:
		}
	}
}
