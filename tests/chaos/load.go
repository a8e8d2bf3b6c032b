package chaos

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

const password = "correct horse battery"

// Load drives the system: virtual users going through the whole life of a
// session, hammers validating tokens as fast as the validators answer,
// and a fuzzer sending bad input everywhere.
type Load struct {
	c        *Cluster
	o        *Oracle
	VUs      int
	Hammers  int
	Thieves  int                        // goroutines replaying spent refresh tokens (thieves.go)
	stolen   stolen                     // the sessions the thieves got revoked
	observer atomic.Pointer[func(call)] // sees every hammer call to a validator
	wg       sync.WaitGroup
	cancel   context.CancelFunc
}

// Start starts the load; Stop ends it and waits.
func (l *Load) Start(ctx context.Context) {
	ctx, l.cancel = context.WithCancel(ctx)
	for i := range l.VUs {
		l.wg.Add(1)
		go func() { defer l.wg.Done(); l.user(ctx, i) }()
	}
	for range l.Hammers {
		l.wg.Add(1)
		go func() { defer l.wg.Done(); l.hammer(ctx) }()
	}
	for i := range l.Thieves {
		l.wg.Add(1)
		go func() { defer l.wg.Done(); l.thief(ctx, i) }()
	}
	l.wg.Add(1)
	go func() { defer l.wg.Done(); l.fuzz(ctx) }()
}

// Stop ends the load and waits for every request in flight.
func (l *Load) Stop() {
	l.cancel()
	l.wg.Wait()
}

// Observe installs f to see every hammer call (nil removes it).
func (l *Load) Observe(f func(call)) {
	if f == nil {
		l.observer.Store(nil)
		return
	}
	l.observer.Store(&f)
}

// pause waits d or until ctx ends: a back-off after a failed request.
func pause(ctx context.Context, d time.Duration) {
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}

func credentials(name string) string {
	b, _ := json.Marshal(map[string]string{"username": name, "password": password})
	return string(b)
}

// register creates a user, retrying while the auth service is down.
func (l *Load) register(ctx context.Context, name string) bool {
	for ctx.Err() == nil {
		c := do(ctx, http.MethodPost, l.c.authURL()+"/v1/auth/register", "", credentials(name))
		if c.Status == http.StatusCreated {
			return true
		}
		if c.Status >= 500 && c.Status != http.StatusServiceUnavailable {
			l.o.S().Violate("register answered %d: %.200s", c.Status, c.Body)
		}
		pause(ctx, 50*time.Millisecond)
	}
	return false
}

// Login returns a new token of the user, retrying while auth is down.
func (l *Load) Login(ctx context.Context, name string) *token {
	for ctx.Err() == nil {
		c := do(ctx, http.MethodPost, l.c.authURL()+"/v1/auth/login", "", credentials(name))
		if c.Status == http.StatusOK {
			var body struct {
				AccessToken string `json:"access_token"`
			}
			if err := json.Unmarshal([]byte(c.Body), &body); err == nil {
				return l.o.Issued(body.AccessToken)
			}
		}
		if c.Status >= 500 && c.Status != http.StatusServiceUnavailable {
			l.o.S().Violate("login answered %d: %.200s", c.Status, c.Body)
		}
		pause(ctx, 50*time.Millisecond)
	}
	return nil
}

// Logout revokes t (all=false) or every token of its user (all=true, with
// mine the tokens of the user issued before) and records the answer.
func (l *Load) Logout(ctx context.Context, t *token, all bool, mine []*token) call {
	route := "/v1/auth/logout"
	if all {
		route = "/v1/auth/logout-all-devices"
	} else {
		mine = []*token{t}
	}
	l.o.RevocationSent(time.Now(), mine...)
	c := do(ctx, http.MethodPost, l.c.authURL()+route, t.raw, "")
	if ctx.Err() != nil && c.Status == 0 {
		return c
	}
	l.o.Revoked(c, all, mine...)
	return c
}

// Validate asks validator i (or auth's /me when i < 0) about t.
func (l *Load) Validate(ctx context.Context, i int, t *token) call {
	url, where := l.c.authURL()+"/v1/auth/me", "auth /me"
	if i >= 0 {
		url, where = l.c.ValURL[i]+"/v1/orders", fmt.Sprintf("validator-%d", i)
	}
	c := do(ctx, http.MethodGet, url, t.raw, "")
	if ctx.Err() != nil && c.Status == 0 {
		return c
	}
	l.o.Validated(where, t, c)
	return c
}

// user is one virtual user: log in twice, use the tokens, log one out,
// check it is refused, and every third round log out of all devices.
func (l *Load) user(ctx context.Context, id int) {
	r := rand.New(rand.NewPCG(uint64(id), uint64(time.Now().UnixNano())))
	name := fmt.Sprintf("vu%d-%x", id, r.Uint64())
	if !l.register(ctx, name) {
		return
	}
	var mine []*token
	for round := 0; ctx.Err() == nil; round++ {
		t1, t2 := l.Login(ctx, name), l.Login(ctx, name)
		if t1 == nil || t2 == nil {
			return
		}
		for i := range l.c.ValURL {
			l.Validate(ctx, i, t1)
		}
		l.Validate(ctx, -1, t1)
		l.Logout(ctx, t1, false, nil)
		l.Validate(ctx, r.IntN(len(l.c.ValURL)), t1)
		mine = append(mine, t2)
		if round%3 == 2 {
			l.Logout(ctx, t2, true, mine)
			mine = nil
			l.Validate(ctx, r.IntN(len(l.c.ValURL)), t2)
			l.Validate(ctx, -1, t2)
		}
	}
}

// hammer validates random recent tokens on random validators.
func (l *Load) hammer(ctx context.Context) {
	r := rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64()))
	for ctx.Err() == nil {
		t := l.o.Pick(r)
		if t == nil {
			pause(ctx, 10*time.Millisecond)
			continue
		}
		c := l.Validate(ctx, r.IntN(len(l.c.ValURL)), t)
		if f := l.observer.Load(); f != nil && c.Status != 0 {
			(*f)(c)
		}
	}
}

// fuzz sends bad tokens and bad bodies to auth and the validators; any 5xx
// is a violation (503 included: bad input is judged before any dependency).
func (l *Load) fuzz(ctx context.Context) {
	r := rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64()))
	for ctx.Err() == nil {
		tok := badToken(r, l.o.Pick(r))
		body := badBodies[r.IntN(len(badBodies))]
		reqs := []struct{ method, url, token, body string }{
			{http.MethodGet, l.c.ValURL[r.IntN(len(l.c.ValURL))] + "/v1/orders", tok, ""},
			{http.MethodGet, l.c.authURL() + "/v1/auth/me", tok, ""},
			{http.MethodPost, l.c.authURL() + "/v1/auth/logout", tok, ""},
			{http.MethodPost, l.c.authURL() + "/v1/auth/logout-all-devices", tok, ""},
			{http.MethodPost, l.c.authURL() + "/v1/auth/register", "", body},
			{http.MethodPost, l.c.authURL() + "/v1/auth/login", "", body},
		}
		q := reqs[r.IntN(len(reqs))]
		c := do(ctx, q.method, q.url, q.token, q.body)
		if c.Status == 0 {
			pause(ctx, 20*time.Millisecond) // the target is down (a fault)
			continue
		}
		l.o.S().Fuzzed.Add(1)
		if c.Status >= 500 {
			l.o.S().FiveXX.Add(1)
			l.o.S().Violate("bad input to %s %s answered %d: token %.60q body %.60q: %.200s", q.method, q.url, c.Status, q.token, q.body, c.Body)
		}
	}
}

var badBodies = []string{
	"{", "[]", "null", `"x"`, `{"username":1,"password":2}`, `{"username":"a"}`,
	`{"username":"ok_name","password":"short"}`, `{"username":"` + strings.Repeat("x", 300) + `","password":"correct horse battery"}`,
	`{"username":"bad name!","password":"correct horse battery"}`, strings.Repeat("[", 5000),
	`{"username":"dup","username":"dup2","password":"correct horse battery"}`, "\x00\xff\xfe",
	`{"username":"nosuchuser0","password":"correct horse battery"}`, strings.Repeat("a", 20<<10),
}

// badToken returns a hostile token, often derived from a real one.
func badToken(r *rand.Rand, t *token) string {
	raw := "eyJhbGciOiJFZERTQSJ9.e30.sig"
	if t != nil {
		raw = t.raw
	}
	parts := strings.SplitN(raw, ".", 3)
	switch r.IntN(10) {
	case 0:
		return "eyJhbGciOiJub25lIiwidHlwIjoiYXQrand0In0." + parts[min(1, len(parts)-1)] + "."
	case 1:
		return raw[:len(raw)/2]
	case 2:
		b := []byte(raw)
		b[len(b)-3] ^= 0x01
		return string(b)
	case 3:
		return strings.Repeat("A", 9000)
	case 4:
		return "a.b.c"
	case 5:
		return "%%%.***.!!!"
	case 6:
		return "eyJhbGciOiJIUzI1NiIsInR5cCI6ImF0K2p3dCJ9." + parts[min(1, len(parts)-1)] + ".AAAA"
	case 7:
		return raw + ".extra"
	case 8:
		return "eyJhbGciOiJFZERTQSIsImprdSI6Imh0dHA6Ly9ldmlsIn0." + parts[min(1, len(parts)-1)] + "." + parts[len(parts)-1]
	}
	return ""
}
