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
	"slices"
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
	// https://auth.example/.well-known/jwks.json. Required unless
	// Discovery: https, or http to a loopback host (localhost,
	// 127.0.0.0/8, ::1).
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
	// Logger receives a line for each failed background refresh, and for
	// keys of a fetched set that were skipped; default slog.Default().
	Logger *slog.Logger
	// Algorithms, when not nil, makes the set another issuer's: it is read
	// with ParseJWKSKeys(body, Algorithms...) (RSA, ECDSA P-256 and
	// Ed25519 keys bound to these algorithms; empty means RS256, PS256,
	// ES256 and EdDSA). Nil keeps the rules of this project's own JWKS:
	// ParseJWKS, Ed25519 keys named by their thumbprint.
	Algorithms []string
	// Issuer is the issuer identifier (the tokens' iss), used with
	// Discovery.
	Issuer string
	// Discovery finds the JWKS URL in the issuer's OpenID Connect
	// discovery document, strings.TrimSuffix(Issuer, "/") +
	// "/.well-known/openid-configuration" (OIDC Discovery 1.0 section 4).
	// The document's issuer must equal Issuer exactly and its jwks_uri
	// must meet the rules of URL; when URL is set too, jwks_uri must equal
	// it. The document is fetched like the JWKS (no redirects, Timeout,
	// at most 256 KiB, strict JSON), cached for its clamped Cache-Control
	// max-age, and fetched again only when stale, as the first step of a
	// refresh, under the same RefreshInterval limit. A refresh whose
	// discovery fails keeps the last good document and keys.
	Discovery bool
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
// By default it reads this project's own JWKS (Ed25519 keys named by
// thumbprint). With RemoteKeySetConfig.Algorithms it reads another
// issuer's set with ParseJWKSKeys, served by LookupKey and
// LookupKeyRefresh; with Discovery it finds the set's URL in the issuer's
// OpenID Connect discovery document.
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
	algs     []string // nil: this project's own JWKS rules (ParseJWKS)
	issuer   string   // with discovery
	discURL  string   // discovery document URL; "" without discovery
	insecure bool     // AllowInsecureHTTP

	mu          sync.Mutex
	keys        map[string]*PublicKey // last good set; nil before the first success
	expires     time.Time             // when keys becomes stale
	disc        *discovered           // last good discovery document
	lastSkipped string                // skip summary last logged
	lastAttempt time.Time             // start of the last fetch; zero before any
	lastMiss    time.Time             // start of the last fetch caused by an unknown kid
	inflight    *fetchCall
}

// fetchCall is one fetch in progress; done is closed when err is set.
type fetchCall struct {
	done chan struct{}
	err  error
}

// errRedirect refuses redirects: keys (and the discovery document) come
// from the configured URL only.
var errRedirect = errors.New("jwtx: JWKS redirects are not followed")

// NewRemoteKeySet checks cfg and returns a RemoteKeySet. It does not fetch:
// the first lookup does, or call Refresh to fetch at start-up.
func NewRemoteKeySet(cfg RemoteKeySetConfig) (*RemoteKeySet, error) {
	var discURL string
	if cfg.Discovery {
		u, err := discoveryURL(cfg.Issuer, cfg.AllowInsecureHTTP)
		if err != nil {
			return nil, err
		}
		discURL = u
	}
	if cfg.URL != "" || !cfg.Discovery {
		if err := checkJWKSURL(cfg.URL, cfg.AllowInsecureHTTP); err != nil {
			return nil, err
		}
	}
	var algs []string
	if cfg.Algorithms != nil {
		a, err := allowList(cfg.Algorithms)
		if err != nil {
			return nil, err
		}
		algs = slices.Clone(a)
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
		algs:     algs,
		issuer:   cfg.Issuer,
		discURL:  discURL,
		insecure: cfg.AllowInsecureHTTP,
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
	return checkFetchURL("JWKS URL", raw, allowHTTP)
}

// checkFetchURL allows https, and http to a loopback host or when
// allowHTTP; what names the URL in errors.
func checkFetchURL(what, raw string, allowHTTP bool) error {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return fmt.Errorf("jwtx: %s %q is not an absolute URL", what, raw)
	}
	switch {
	case u.Scheme == "https":
		return nil
	case u.Scheme == "http" && (allowHTTP || isLoopback(u.Hostname())):
		return nil
	case u.Scheme == "http":
		return fmt.Errorf("jwtx: %s %q: plain http only to a loopback host (or set AllowInsecureHTTP)", what, raw)
	}
	return fmt.Errorf("jwtx: %s %q: scheme must be https", what, raw)
}

func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// Lookup returns the Ed25519 key with the given kid from the cached set,
// without waiting; a key of another type is not returned (use LookupKey).
// When the set is stale (or was never fetched) it starts a background
// refresh, at most one per RefreshInterval.
func (r *RemoteKeySet) Lookup(kid string) (ed25519.PublicKey, bool) {
	k, ok := r.LookupKey(kid)
	if !ok {
		return nil, false
	}
	return k.ed25519Key()
}

// LookupRefresh returns the Ed25519 key with the given kid, refreshing the
// set as LookupKeyRefresh does.
func (r *RemoteKeySet) LookupRefresh(ctx context.Context, kid string) (ed25519.PublicKey, bool) {
	k, ok := r.LookupKeyRefresh(ctx, kid)
	if !ok {
		return nil, false
	}
	return k.ed25519Key()
}

// LookupKey returns the key with the given kid from the cached set,
// without waiting. When the set is stale (or was never fetched) it starts
// a background refresh, at most one per RefreshInterval.
func (r *RemoteKeySet) LookupKey(kid string) (*PublicKey, bool) {
	r.mu.Lock()
	keys := r.keys
	if t := r.now(); keys == nil || !t.Before(r.expires) {
		r.start(t, false)
	}
	r.mu.Unlock()
	k, ok := keys[kid]
	return k, ok
}

// LookupKeyRefresh returns the key with the given kid. When the cached set
// does not have it, it refreshes the set, at most once per
// RefreshInterval whatever the number of unknown kids, and waits for that
// refresh (or one already running) until ctx is done.
func (r *RemoteKeySet) LookupKeyRefresh(ctx context.Context, kid string) (*PublicKey, bool) {
	if k, ok := r.LookupKey(kid); ok {
		return k, true
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
	k, ok := r.keys[kid]
	r.mu.Unlock()
	return k, ok
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

// launch starts a refresh in its own goroutine, each request bounded by
// r.timeout and independent of any caller's context; r.mu must be held.
func (r *RemoteKeySet) launch(t time.Time) *fetchCall {
	call := &fetchCall{done: make(chan struct{})}
	r.inflight = call
	r.lastAttempt = t
	disc := r.disc
	go func() {
		res, err := r.refresh(disc)
		r.mu.Lock()
		var logSkipped bool
		if err == nil {
			r.keys, r.expires, r.disc = res.keys, r.now().Add(res.age), res.disc
			logSkipped = res.skipped != r.lastSkipped
			r.lastSkipped = res.skipped
		}
		r.inflight = nil
		call.err = err
		r.mu.Unlock()
		// Logged before waiters return, so that what they saw is logged.
		switch {
		case err != nil:
			r.logger.Warn("jwtx: JWKS refresh failed; keeping the last good key set", "url", r.jwksURL(disc), "err", err)
		case logSkipped && res.skipped != "":
			r.logger.Warn("jwtx: JWKS keys skipped", "url", r.jwksURL(res.disc), "skipped", res.skipped)
		}
		close(call.done)
	}()
	return call
}

// fetched is the outcome of a successful refresh.
type fetched struct {
	keys    map[string]*PublicKey
	age     time.Duration
	disc    *discovered
	skipped string // summary of the keys skipped, "" for none
}

// jwksURL is where the keys come from, given the discovery document.
func (r *RemoteKeySet) jwksURL(disc *discovered) string {
	if r.discURL != "" && disc != nil {
		return disc.jwksURI
	}
	return r.url
}

// refresh fetches the discovery document when there is one and disc is
// missing or stale, then the JWK Set.
func (r *RemoteKeySet) refresh(disc *discovered) (fetched, error) {
	if r.discURL != "" && (disc == nil || !r.now().Before(disc.expires)) {
		d, err := r.discover()
		if err != nil {
			return fetched{}, err
		}
		disc = d
	}
	res, err := r.fetch(r.jwksURL(disc))
	res.disc = disc
	return res, err
}

// fetch GETs the JWK Set at u and returns its keys and cache lifetime.
func (r *RemoteKeySet) fetch(u string) (fetched, error) {
	body, h, err := r.get(u, "JWKS", "application/jwk-set+json, application/json", maxJWKSSize)
	if err != nil {
		return fetched{}, err
	}
	res := fetched{age: r.cacheAge(h)}
	if r.algs == nil {
		ks, err := ParseJWKS(body) // refuses more than maxJWKSSize bytes
		if err != nil {
			return fetched{}, err
		}
		res.keys = make(map[string]*PublicKey, len(ks.keys))
		for kid, pub := range ks.keys { // ks is ours alone: no lock needed
			k, err := NewPublicKey(kid, pub, AlgEdDSA)
			if err != nil {
				return fetched{}, fmt.Errorf("jwtx: JWKS key %s: %w", short(kid), err)
			}
			res.keys[kid] = k
		}
		return res, nil
	}
	keys, skipped, err := parseJWKSKeys(body, r.algs)
	if err != nil {
		return fetched{}, err
	}
	res.keys, res.skipped = make(map[string]*PublicKey, len(keys)), skipped.String()
	for _, k := range keys {
		res.keys[k.kid] = k
	}
	return res, nil
}

// get GETs u with its own r.timeout and returns a 200 answer's body of at
// most limit bytes; what names the document in errors.
func (r *RemoteKeySet) get(u, what, accept string, limit int64) ([]byte, http.Header, error) {
	ctx, cancel := context.WithTimeout(context.Background(), r.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, nil, fmt.Errorf("jwtx: %s request: %w", what, err)
	}
	req.Header.Set("Accept", accept)
	resp, err := r.client.Do(req)
	if err != nil {
		return nil, nil, fmt.Errorf("jwtx: fetch %s: %w", what, err)
	}
	defer func() { _ = resp.Body.Close() }()
	if resp.StatusCode != http.StatusOK {
		return nil, nil, fmt.Errorf("jwtx: fetch %s: status %d", what, resp.StatusCode)
	}
	if resp.ContentLength > limit {
		return nil, nil, fmt.Errorf("jwtx: fetch %s: %d bytes exceeds %d", what, resp.ContentLength, limit)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
	if err != nil {
		return nil, nil, fmt.Errorf("jwtx: read %s: %w", what, err)
	}
	if int64(len(body)) > limit {
		return nil, nil, fmt.Errorf("jwtx: fetch %s: more than %d bytes", what, limit)
	}
	return body, resp.Header, nil
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
