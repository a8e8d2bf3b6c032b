package jwtx_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"fmt"
	"net/http"
	"net/http/httptest"

	"github.com/eventjwt/eventjwt/pkg/jwtx"
	"github.com/eventjwt/eventjwt/pkg/jwtx/jwtxtest"
)

// A service protects its routes with the middleware and reads the claims
// in its handlers. In production Revocation is
// jwtx.NewRedisStore(redis.NewClient(opts)) with opts from
// jwtx.RedisOptions(os.Getenv("REDIS_URL")).
func ExampleValidator_Middleware() {
	_, key, _ := ed25519.GenerateKey(rand.Reader)
	signer, _ := jwtx.NewSigner(jwtx.SignerConfig{Key: key, Issuer: "https://auth.example", Audience: "orders"})

	v, err := jwtx.NewValidator(jwtx.Config{
		Keys:       jwtx.NewKeySet(signer.PublicKey()),
		Issuer:     "https://auth.example",
		Audience:   "orders",
		Revocation: jwtxtest.NewMemoryStore(),
	})
	if err != nil {
		panic(err)
	}
	orders := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		claims, _ := jwtx.ClaimsFromContext(r.Context())
		fmt.Fprintf(w, "orders of user %s", claims.Subject)
	})
	h := v.Middleware(orders)

	token, _, _ := signer.Issue("0b6e1d4c-7f2a-4c4e-9a51-3d2f8e6b1c70", 0)
	req := httptest.NewRequest(http.MethodGet, "/orders", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	fmt.Println(rec.Code, rec.Body)

	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/orders", nil))
	fmt.Println(rec.Code, rec.Header().Get("WWW-Authenticate"))
	// Output:
	// 200 orders of user 0b6e1d4c-7f2a-4c4e-9a51-3d2f8e6b1c70
	// 401 Bearer error="invalid_token", error_description="a bearer access token is required"
}

// Validate returns distinct errors for a revoked token and for an unknown
// status; WriteError turns them into 401 and 503.
func ExampleValidator_Validate() {
	_, key, _ := ed25519.GenerateKey(rand.Reader)
	signer, _ := jwtx.NewSigner(jwtx.SignerConfig{Key: key, Issuer: "iss", Audience: "aud"})
	store := jwtxtest.NewMemoryStore()
	v, _ := jwtx.NewValidator(jwtx.Config{
		Keys: jwtx.NewKeySet(signer.PublicKey()), Issuer: "iss", Audience: "aud", Revocation: store,
	})
	token, claims, _ := signer.Issue("0b6e1d4c-7f2a-4c4e-9a51-3d2f8e6b1c70", 0)

	_, err := v.Validate(context.Background(), token)
	fmt.Println(err, jwtx.HTTPStatus(err))

	store.RevokeToken(claims.ID)
	_, err = v.Validate(context.Background(), token)
	fmt.Println(jwtx.HTTPStatus(err))

	store.SetInitialized(false) // Redis lost its data: fail closed
	_, err = v.Validate(context.Background(), token)
	fmt.Println(jwtx.HTTPStatus(err))
	// Output:
	// <nil> 200
	// 401
	// 503
}

// A service other than the issuer follows the issuer's JWKS URL. Keys are
// fetched from that URL only (https, or http on loopback as here), cached,
// and refreshed at most once per 30 s when a token names an unknown kid.
func ExampleRemoteKeySet() {
	_, key, _ := ed25519.GenerateKey(rand.Reader)
	signer, _ := jwtx.NewSigner(jwtx.SignerConfig{Key: key, Issuer: "https://auth.example", Audience: "orders"})
	issuer := httptest.NewServer(jwtx.NewKeySet(signer.PublicKey()).Handler()) // the auth service
	defer issuer.Close()

	keys, err := jwtx.NewRemoteKeySet(jwtx.RemoteKeySetConfig{URL: issuer.URL + "/.well-known/jwks.json"})
	if err != nil {
		panic(err)
	}
	if err := keys.Refresh(context.Background()); err != nil { // optional: fail fast at start-up
		panic(err)
	}
	v, _ := jwtx.NewValidator(jwtx.Config{
		Resolver: keys, Issuer: "https://auth.example", Audience: "orders", Revocation: jwtxtest.NewMemoryStore(),
	})
	token, _, _ := signer.Issue("0b6e1d4c-7f2a-4c4e-9a51-3d2f8e6b1c70", 0)
	claims, err := v.Validate(context.Background(), token)
	fmt.Println(claims.Subject, err)
	// Output:
	// 0b6e1d4c-7f2a-4c4e-9a51-3d2f8e6b1c70 <nil>
}
