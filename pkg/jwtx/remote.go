package jwtx

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"
)

// RemoteKeySet defaults.
const (
	// DefaultJWKSTimeout bounds one JWKS fetch: connect, TLS, headers, body.
	DefaultJWKSTimeout = 5 * time.Second
	// DefaultRefreshInterval is the least time between two refreshes caused
	// by unknown kids (or two retries after a failed refresh).
	DefaultRefreshInterval = 30 * time.Second
	// DefaultMinCacheAge and DefaultMaxCacheAge bound the Cache-Control
	// max-age of the JWKS response.
	DefaultMinCacheAge = time.Minute
	DefaultMaxCacheAge = time.Hour
	// DefaultCacheAge applies when the response has no max-age.
	DefaultCacheAge = 5 * time.Minute
)

// RemoteKeySetConfig configures a RemoteKeySet.
type RemoteKeySetConfig struct {
	// URL of the issuer's JWK Set, e.g.
	// https://auth.example/.well-known/jwks.json. Required: https, or http
	// to a loopback host (localhost, 127.0.0.0/8, ::1).
	URL string
	// AllowInsecureHTTP also allows http to other hosts, for a JWKS served
	// inside a trusted network. Without TLS, whoever sits on the path can
	// replace the keys.
	AllowInsecureHTTP bool
	// Client makes the requests; default a client bounded by Timeout. A
	// copy is used, with redirects refused: the URL above is the only
	// place keys come from.
	Client *http.Client
	// Timeout bounds one fetch; default DefaultJWKSTimeout.
	Timeout time.Duration
	// RefreshInterval is the least time between two refreshes caused by
	// unknown kids, and between retries after a failed refresh; default
	// DefaultRefreshInterval.
	RefreshInterval time.Duration
	// MinCacheAge and MaxCacheAge bound how long a fetched set is used
	// before it is refreshed, whatever Cache-Control max-age says; default
	// DefaultMinCacheAge and DefaultMaxCacheAge.
	MinCacheAge, MaxCacheAge time.Duration
	// Now is the clock; default time.Now.
	Now func() time.Time
	// Logger receives a line for each failed background refresh; default
	// slog.Default().
	Logger *slog.Logger
}

// RemoteKeySet is a KeyRefresher following an issuer's JWKS URL, for
// validators in services other than the issuer. It fetches the set with
// GET (bounded in time and to 1 MiB), caches it for the response's
// Cache-Control max-age clamped to [MinCacheAge, MaxCacheAge], serves the
// cached set while refreshing it in the background once stale, and on an
// unknown kid refreshes at most once per RefreshInterval. A failed
// refresh (network error, non-200 status, oversize or invalid body) keeps
// the last good set. It never fetches anything a token names. It is safe
// for concurrent use.
//
//	keys, err := jwtx.NewRemoteKeySet(jwtx.RemoteKeySetConfig{URL: "https://auth.example/.well-known/jwks.json"})
//	v, err := jwtx.NewValidator(jwtx.Config{Resolver: keys, Issuer: ..., Audience: ..., Revocation: ...})
type RemoteKeySet struct {
	url      string
	client   *http.Client
	timeout  time.Duration
	interval time.Duration
	minAge   time.Duration
	maxAge   time.Duration
	now      func() time.Time
	logger   *slog.Logger

	mu          sync.Mutex
	keys        *KeySet   // last good set; nil before the first success
	expires     time.Time // when keys becomes stale
	lastAttempt time.Time // start of the last fetch; zero before any
	lastMiss    time.Time // start of the last fetch caused by an unknown kid
	inflight    *fetchCall
}

// fetchCall is one fetch in progress; done is closed when err is set.
type fetchCall struct {
	done chan struct{}
	err  error
}

// errRedirect refuses redirects: keys come from the configured URL only.
var errRedirect = errors.New("jwtx: JWKS redirects are not followed")

// NewRemoteKeySet checks cfg and returns a RemoteKeySet. It does not fetch:
// the first lookup does, or call Refresh to fetch at start-up.
func NewRemoteKeySet(cfg RemoteKeySetConfig) (*RemoteKeySet, error) {
	if err := checkJWKSURL(cfg.URL, cfg.AllowInsecureHTTP); err != nil {
		return nil, err
	}
	if cfg.Timeout < 0 || cfg.RefreshInterval < 0 || cfg.MinCacheAge < 0 || cfg.MaxCacheAge < 0 {
		return nil, errors.New("jwtx: negative RemoteKeySet duration")
	}
	r := &RemoteKeySet{
		url:      cfg.URL,
		timeout:  orDefault(cfg.Timeout, DefaultJWKSTimeout),
		interval: orDefault(cfg.RefreshInterval, DefaultRefreshInterval),
		minAge:   orDefault(cfg.MinCacheAge, DefaultMinCacheAge),
		maxAge:   orDefault(cfg.MaxCacheAge, DefaultMaxCacheAge),
		now:      cfg.Now,
		logger:   cfg.Logger,
	}
	if r.minAge > r.maxAge {
		return nil, fmt.Errorf("jwtx: MinCacheAge %s above MaxCacheAge %s", r.minAge, r.maxAge)
	}
	if r.now == nil {
		r.now = time.Now
	}
	if r.logger == nil {
		r.logger = slog.Default()
	}
	client := cfg.Client
	if client == nil {
		client = &http.Client{Timeout: r.timeout, Transport: &http.Transport{
			Proxy:                 http.ProxyFromEnvironment,
			DialContext:           (&net.Dialer{Timeout: r.timeout}).DialContext,
			TLSHandshakeTimeout:   r.timeout,
			ResponseHeaderTimeout: r.timeout,
			IdleConnTimeout:       90 * time.Second,
			MaxIdleConns:          2,
		}}
	}
	c := *client
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return errRedirect }
	r.client = &c
	return r, nil
}

func orDefault(d, def time.Duration) time.Duration {
	if d == 0 {
		return def
	}
	return d
}

// checkJWKSURL allows https, and http to a loopback host or when allowHTTP.
func checkJWKSURL(raw string, allowHTTP bool) error {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return fmt.Errorf("jwtx: JWKS URL %q is not an absolute URL", raw)
	}
	switch {
	case u.Scheme == "https":
		return nil
	case u.Scheme == "http" && (allowHTTP || isLoopback(u.Hostname())):
		return nil
	case u.Scheme == "http":
		return fmt.Errorf("jwtx: JWKS URL %q: plain http only to a loopback host (or set AllowInsecureHTTP)", raw)
	}
	return fmt.Errorf("jwtx: JWKS URL %q: scheme must be https", raw)
}

func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// Lookup returns the key with the given kid from the cached set, without
// waiting. When the set is stale (or was never fetched) it starts a
// background refresh, at most one per RefreshInterval.
func (r *RemoteKeySet) Lookup(kid string) (ed25519.PublicKey, bool) {
	r.mu.Lock()
	keys := r.keys
	if t := r.now(); keys == nil || !t.Before(r.expires) {
		r.start(t, false)
	}
	r.mu.Unlock()
	if keys == nil {
		return nil, false
	}
	return keys.Lookup(kid)
}

// LookupRefresh returns the key with the given kid. When the cached set
// does not have it, it refreshes the set, at most once per
// RefreshInterval whatever the number of unknown kids, and waits for that
// refresh (or one already running) until ctx is done.
func (r *RemoteKeySet) LookupRefresh(ctx context.Context, kid string) (ed25519.PublicKey, bool) {
	if pub, ok := r.Lookup(kid); ok {
		return pub, true
	}
	r.mu.Lock()
	call := r.start(r.now(), true)
	r.mu.Unlock()
	if call == nil {
		return nil, false
	}
	select {
	case <-call.done:
	case <-ctx.Done():
		return nil, false
	}
	r.mu.Lock()
	keys := r.keys
	r.mu.Unlock()
	if keys == nil {
		return nil, false
	}
	return keys.Lookup(kid)
}

// Refresh fetches the set now (or waits for the fetch already running),
// whatever the rate limit, and returns the fetch's error; the last good set
// is kept on error. Call it at start-up to fail fast on a wrong URL.
func (r *RemoteKeySet) Refresh(ctx context.Context) error {
	r.mu.Lock()
	call := r.inflight
	if call == nil {
		call = r.launch(r.now())
	}
	r.mu.Unlock()
	select {
	case <-call.done:
		return call.err
	case <-ctx.Done():
		return fmt.Errorf("jwtx: JWKS refresh: %w", ctx.Err())
	}
}

// start returns the fetch in progress, or starts one if the rate limit
// allows, or returns nil; r.mu must be held. A miss (unknown kid) may
// start a fetch once per interval since the last miss-caused fetch; a
// stale or empty set once per interval since the last fetch of any kind.
func (r *RemoteKeySet) start(t time.Time, miss bool) *fetchCall {
	if r.inflight != nil {
		return r.inflight // joining a fetch in progress costs nothing
	}
	last := r.lastAttempt
	if miss {
		last = r.lastMiss
	}
	if !last.IsZero() && t.Sub(last) < r.interval {
		return nil
	}
	if miss {
		r.lastMiss = t
	}
	return r.launch(t)
}

// launch starts a fetch in its own goroutine, bounded by r.timeout and
// independent of any caller's context; r.mu must be held.
func (r *RemoteKeySet) launch(t time.Time) *fetchCall {
	call := &fetchCall{done: make(chan struct{})}
	r.inflight = call
	r.lastAttempt = t
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), r.timeout)
		defer cancel()
		keys, age, err := r.fetch(ctx)
		r.mu.Lock()
		if err == nil {
			r.keys, r.expires = keys, r.now().Add(age)
		}
		r.inflight = nil
		call.err = err
		r.mu.Unlock()
		close(call.done)
		if err != nil {
			r.logger.Warn("jwtx: JWKS refresh failed; keeping the last good key set", "url", r.url, "err", err)
		}
	}()
	return call
}

// fetch GETs the JWK Set and returns it with its cache lifetime.
func (r *RemoteKeySet) fetch(ctx context.Context) (*KeySet, time.Duration, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, r.url, nil)
	if err != nil {
		return nil, 0, fmt.Errorf("jwtx: JWKS request: %w", err)
	}
	req.Header.Set("Accept", "application/jwk-set+json, application/json")
	resp, err := r.client.Do(req)
	if err != nil {
		return nil, 0, fmt.Errorf("jwtx: fetch JWKS: %w", err)
	}
	defer func() { _ = resp.Body.Close() }()
	if resp.StatusCode != http.StatusOK {
		return nil, 0, fmt.Errorf("jwtx: fetch JWKS: status %d", resp.StatusCode)
	}
	if resp.ContentLength > maxJWKSSize {
		return nil, 0, fmt.Errorf("jwtx: fetch JWKS: %d bytes exceeds %d", resp.ContentLength, maxJWKSSize)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxJWKSSize+1))
	if err != nil {
		return nil, 0, fmt.Errorf("jwtx: read JWKS: %w", err)
	}
	keys, err := ParseJWKS(body) // refuses more than maxJWKSSize bytes
	if err != nil {
		return nil, 0, err
	}
	keys.SetClock(r.now)
	return keys, r.cacheAge(resp.Header), nil
}

// cacheAge reads Cache-Control: the smallest max-age, or MinCacheAge for
// no-cache and no-store, or DefaultCacheAge without either, clamped to
// [MinCacheAge, MaxCacheAge].
func (r *RemoteKeySet) cacheAge(h http.Header) time.Duration {
	age, found := DefaultCacheAge, false
	for _, v := range h.Values("Cache-Control") {
		for d := range strings.SplitSeq(v, ",") {
			name, val, _ := strings.Cut(strings.TrimSpace(d), "=")
			var a time.Duration
			switch strings.ToLower(name) {
			case "no-cache", "no-store":
			case "max-age":
				n, err := strconv.ParseUint(strings.Trim(val, `"`), 10, 31)
				if err != nil {
					continue
				}
				a = time.Duration(n) * time.Second
			default:
				continue
			}
			if !found || a < age {
				age, found = a, true
			}
		}
	}
	return min(max(age, r.minAge), r.maxAge)
}
