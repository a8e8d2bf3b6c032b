package jwtx

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"
)

// maxDiscoverySize bounds an OpenID Connect discovery document.
const maxDiscoverySize = 256 << 10

// maxURILength bounds the jwks_uri of a discovery document (and so the
// error messages and log lines that quote it).
const maxURILength = 2048

// discoveryPath is where an issuer publishes its discovery document (OIDC
// Discovery 1.0 section 4).
const discoveryPath = "/.well-known/openid-configuration"

// discovered is a checked discovery document, as a RemoteKeySet uses it.
type discovered struct {
	jwksURI string
	expires time.Time // when it must be fetched again
}

// discoveryURL returns the discovery document URL of issuer, which must
// be an https URL (or http as checkFetchURL allows) without query or
// fragment (OIDC Discovery 1.0 section 3).
func discoveryURL(issuer string, allowHTTP bool) (string, error) {
	if issuer == "" {
		return "", errors.New("jwtx: Discovery needs the Issuer")
	}
	if err := checkFetchURL("issuer", issuer, allowHTTP); err != nil {
		return "", err
	}
	u, err := url.Parse(issuer)
	if err != nil {
		return "", fmt.Errorf("jwtx: issuer %q: %w", issuer, err)
	}
	if u.RawQuery != "" || u.Fragment != "" || strings.ContainsAny(issuer, "?#") {
		return "", fmt.Errorf("jwtx: issuer %q has a query or fragment", issuer)
	}
	return strings.TrimSuffix(issuer, "/") + discoveryPath, nil
}

// parseDiscovery checks a discovery document for issuer and returns its
// jwks_uri: strict JSON, an issuer member equal to issuer exactly (OIDC
// Discovery 1.0 section 4.3), a jwks_uri that checkFetchURL allows and,
// when pinned is not empty, equal to it.
func parseDiscovery(data []byte, issuer, pinned string, allowHTTP bool) (string, error) {
	if len(data) > maxDiscoverySize {
		return "", fmt.Errorf("jwtx: discovery document larger than %d bytes", maxDiscoverySize)
	}
	if err := checkJSON(data); err != nil {
		return "", fmt.Errorf("jwtx: discovery document: %w", err)
	}
	var doc map[string]json.RawMessage
	if err := json.Unmarshal(data, &doc); err != nil {
		return "", fmt.Errorf("jwtx: discovery document: %w", err)
	}
	if err := checkNames(doc, "issuer", "jwks_uri"); err != nil {
		return "", fmt.Errorf("jwtx: discovery document: %w", err)
	}
	iss, ok := rawString(doc["issuer"])
	if !ok {
		return "", errors.New("jwtx: discovery document has no issuer string")
	}
	if iss != issuer {
		return "", fmt.Errorf("jwtx: discovery document issuer %s is not %q", short(iss), issuer)
	}
	jwksURI, ok := rawString(doc["jwks_uri"])
	if !ok {
		return "", errors.New("jwtx: discovery document has no jwks_uri string")
	}
	if len(jwksURI) > maxURILength {
		return "", fmt.Errorf("jwtx: discovery document jwks_uri of %d bytes", len(jwksURI))
	}
	if err := checkFetchURL("jwks_uri", jwksURI, allowHTTP); err != nil {
		return "", err
	}
	if pinned != "" && jwksURI != pinned {
		return "", fmt.Errorf("jwtx: discovery document jwks_uri %s is not the configured URL %q", short(jwksURI), pinned)
	}
	return jwksURI, nil
}

// discover fetches and checks the issuer's discovery document.
func (r *RemoteKeySet) discover() (*discovered, error) {
	body, h, err := r.get(r.discURL, "discovery document", "application/json", maxDiscoverySize)
	if err != nil {
		return nil, err
	}
	jwksURI, err := parseDiscovery(body, r.issuer, r.url, r.insecure)
	if err != nil {
		return nil, err
	}
	return &discovered{jwksURI: jwksURI, expires: r.now().Add(r.cacheAge(h))}, nil
}
