package main

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"go.uber.org/goleak"

	"github.com/eventjwt/eventjwt/internal/service"
	"github.com/eventjwt/eventjwt/internal/testkit"
	"github.com/eventjwt/eventjwt/pkg/events"
	"github.com/eventjwt/eventjwt/pkg/jwtx"
	"github.com/eventjwt/eventjwt/pkg/jwtx/jwtxtest"
)

// These tests run replicas of the service in this process, each with its
// own NATS connection to one embedded nats-server (JetStream, the
// production stream), its own near-cache and Broadcast subscriber, and a
// real HTTP server on a free port; clients hold real SSE streams.

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		goleak.IgnoreAnyFunction("github.com/nats-io/nats-server/v2/server.(*Server).Start"),
	)
}

// env is one NATS server with the stream, and the issuer's keys served as
// a JWKS.
type env struct {
	t    *testing.T
	nt   *testkit.NATS
	pub  *events.Publisher
	kit  *jwtxtest.Kit
	jwks string
}

func newEnv(t *testing.T) *env {
	t.Helper()
	nt := testkit.StartNATS(t)
	js := nt.JetStream(t)
	if _, err := events.EnsureStream(t.Context(), js, events.StreamConfig{MinMaxAge: 24 * time.Hour}); err != nil {
		t.Fatal(err)
	}
	kit := jwtxtest.New(t)
	jwks := httptest.NewServer(kit.Keys.Handler())
	t.Cleanup(jwks.Close)
	return &env{t: t, nt: nt, pub: events.NewPublisher(js), kit: kit, jwks: jwks.URL}
}

// replica starts one instance of the service and returns its base URL.
func (e *env) replica(limits service.HTTPLimits) (*app, string) {
	e.t.Helper()
	cfg := config{
		HTTPAddr: "127.0.0.1:0", NATSURL: e.nt.URL, JWKSURL: e.jwks,
		Issuer: e.kit.Issuer, Audience: e.kit.Audience, Leeway: 30 * time.Second,
		RevLeeway: time.Minute, MaxTokenTTL: 24 * time.Hour,
		Heartbeat: 50 * time.Millisecond, StartTimeout: 10 * time.Second, limits: limits,
	}
	a, err := start(e.t.Context(), cfg, slog.New(slog.NewTextHandler(e.t.Output(), nil)))
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := a.close(ctx); err != nil {
			e.t.Errorf("close: %v", err)
		}
	})
	return a, "http://" + a.servers.Addr(0)
}

// token issues a token for g.
func (e *env) token(g jwtx.Grant) string {
	e.t.Helper()
	tok, _, err := e.kit.Signer.IssueGrant(g)
	if err != nil {
		e.t.Fatal(err)
	}
	return tok
}

func (e *env) publish(ev events.Event) {
	e.t.Helper()
	if _, err := e.pub.Publish(e.t.Context(), ev); err != nil {
		e.t.Fatal(err)
	}
}

// sse is a client's view of one stream.
type sse struct {
	mu     sync.Mutex
	events []sseEvent
	pings  int
	ended  bool // the server closed the stream
	done   chan struct{}
}

type sseEvent struct{ name, data string }

// open connects to url's stream with token and waits for its open event.
func open(t *testing.T, url, token string) *sse {
	t.Helper()
	res := get(t, url+"/v1/stream", token)
	if res.StatusCode != http.StatusOK || res.Header.Get("Content-Type") != "text/event-stream" {
		_ = res.Body.Close()
		t.Fatalf("GET /v1/stream: %s %q", res.Status, res.Header.Get("Content-Type"))
	}
	s := &sse{done: make(chan struct{})}
	go s.read(res.Body)
	t.Cleanup(func() {
		_ = res.Body.Close()
		<-s.done
	})
	testkit.Eventually(t, 10*time.Second, "the open event", func() bool { return len(s.names()) > 0 })
	if got := s.names(); got[0] != "open" {
		t.Fatalf("first event %q, want open", got[0])
	}
	return s
}

// get sends a GET with a bearer token on a connection of its own.
func get(t *testing.T, url, token string) *http.Response {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	res, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// read parses the stream until it ends.
func (s *sse) read(body io.Reader) {
	defer close(s.done)
	sc := bufio.NewScanner(body)
	var ev sseEvent
	for sc.Scan() {
		line := sc.Text()
		s.mu.Lock()
		switch {
		case strings.HasPrefix(line, ":"):
			s.pings++
		case strings.HasPrefix(line, "event: "):
			ev.name = strings.TrimPrefix(line, "event: ")
		case strings.HasPrefix(line, "data: "):
			ev.data = strings.TrimPrefix(line, "data: ")
		case line == "" && ev.name != "":
			s.events = append(s.events, ev)
			ev = sseEvent{}
		}
		s.mu.Unlock()
	}
	s.mu.Lock()
	s.ended = sc.Err() == nil // EOF: the server closed it, not our Close
	s.mu.Unlock()
}

func (s *sse) names() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var names []string
	for _, e := range s.events {
		names = append(names, e.name)
	}
	return names
}

// state returns whether the stream ended, its last event and the pings.
func (s *sse) state() (ended bool, last sseEvent, pings int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.ended, s.events[len(s.events)-1], s.pings
}

// revokedBy reports whether the stream ended with a revoked event of the
// type typ.
func (s *sse) revokedBy(typ string) bool {
	ended, last, _ := s.state()
	var data struct{ Type, Reason string }
	return ended && last.name == "revoked" && json.Unmarshal([]byte(last.data), &data) == nil && data.Type == typ
}

// TestRevocationClosesStreamsOnEveryReplica: two replicas, streams of
// several tokens on both; each revocation (by jti, session, user
// version) closes the streams of the tokens it revokes on both replicas,
// with a final revoked event, and no other. Events are handled in stream
// order, so once a later event's streams are closed everywhere, the
// streams still open were not closed by an earlier one.
func TestRevocationClosesStreamsOnEveryReplica(t *testing.T) {
	e := newEnv(t)
	// Streams must outlive the server's request timeouts.
	limits := service.HTTPLimits{ReadTimeout: 200 * time.Millisecond, WriteTimeout: 200 * time.Millisecond}
	_, url1 := e.replica(limits)
	_, url2 := e.replica(limits)

	alice, bob := uuid.NewString(), uuid.NewString()
	sessA, sessB := uuid.NewString(), uuid.NewString()
	jti := uuid.NewString()
	tokens := map[string]string{
		"alice-jti":     e.token(jwtx.Grant{Subject: alice, ID: jti, SessionID: sessB}),
		"alice-session": e.token(jwtx.Grant{Subject: alice, SessionID: sessA}),
		"alice-other":   e.token(jwtx.Grant{Subject: alice, SessionID: sessB}),
		"bob-v0":        e.token(jwtx.Grant{Subject: bob, Version: 0}),
		"bob-v1":        e.token(jwtx.Grant{Subject: bob, Version: 1}),
	}
	streams := map[string][2]*sse{}
	opened := time.Now()
	for name, tok := range tokens {
		streams[name] = [2]*sse{open(t, url1, tok), open(t, url2, tok)}
	}
	testkit.Eventually(t, 10*time.Second, "streams open past the request timeouts", func() bool { return time.Since(opened) > 3*limits.WriteTimeout })
	for name, pair := range streams {
		for i, s := range pair {
			if ended, _, pings := s.state(); ended || pings == 0 {
				t.Fatalf("%s on replica %d: ended %v after %d pings; want open and pinged", name, i+1, ended, pings)
			}
		}
	}

	steps := []struct {
		ev     events.Event
		closes string
	}{
		{events.TokenRevoked{UserID: alice, JTI: jti, ExpiresAt: time.Now().Add(time.Hour), Reason: events.ReasonLogout}.Event(time.Now()), "alice-jti"},
		{events.SessionRevoked{UserID: alice, SessionID: sessA, ExpiresAt: time.Now().Add(time.Hour), Reason: events.ReasonAdmin}.Event(time.Now()), "alice-session"},
		{events.UserTokensRevoked{UserID: bob, Version: 1, Reason: events.ReasonLogoutAll}.Event(time.Now()), "bob-v0"},
	}
	closed := map[string]bool{}
	for _, step := range steps {
		e.publish(step.ev)
		pair := streams[step.closes]
		testkit.Eventually(t, 10*time.Second, step.ev.Type+" closes "+step.closes+" on both replicas", func() bool {
			return pair[0].revokedBy(step.ev.Type) && pair[1].revokedBy(step.ev.Type)
		})
		closed[step.closes] = true
		for name, pair := range streams {
			for i, s := range pair {
				if ended, last, _ := s.state(); ended != closed[name] {
					t.Fatalf("after %s: %s on replica %d ended %v (last event %+v), want %v", step.ev.Type, name, i+1, ended, last, closed[name])
				}
			}
		}
	}

	// The near-cache refuses the revoked tokens a new stream, on both
	// replicas, and still serves the others.
	for _, url := range []string{url1, url2} {
		for name, want := range map[string]int{"alice-jti": 401, "alice-session": 401, "bob-v0": 401} {
			res := get(t, url+"/v1/stream", tokens[name])
			_ = res.Body.Close()
			if res.StatusCode != want {
				t.Fatalf("a new stream for %s: %s, want %d", name, res.Status, want)
			}
		}
		open(t, url, tokens["bob-v1"])
	}
}

// TestShutdownEndsStreams: a replica shutting down ends its streams with
// a shutdown event instead of waiting for them, and refuses new ones.
func TestShutdownEndsStreams(t *testing.T) {
	e := newEnv(t)
	a, url := e.replica(service.HTTPLimits{})
	s := open(t, url, e.token(jwtx.Grant{Subject: uuid.NewString()}))
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	if err := a.close(ctx); err != nil {
		t.Fatalf("shutdown with a stream open: %v", err)
	}
	<-s.done
	if ended, last, _ := s.state(); !ended || last.name != "shutdown" {
		t.Fatalf("stream ended %v with %+v, want a shutdown event", ended, last)
	}
	if got := a.hub.openStreams(); got != 0 {
		t.Fatalf("%d streams still registered", got)
	}
}

// TestRevokes: which events revoke which tokens.
func TestRevokes(t *testing.T) {
	user, jti, sid := uuid.NewString(), uuid.NewString(), uuid.NewString()
	s := &stream{userID: user, jti: jti, sid: sid, version: 2}
	noSession := &stream{userID: user, jti: uuid.NewString(), version: 2}
	exp := time.Now().Add(time.Hour)
	for _, tc := range []struct {
		name string
		ev   events.Event
		s    *stream
		want bool
	}{
		{"OKTokenRevoked", events.TokenRevoked{UserID: user, JTI: jti, ExpiresAt: exp}.Event(time.Now()), s, true},
		{"OKOtherToken", events.TokenRevoked{UserID: user, JTI: uuid.NewString(), ExpiresAt: exp}.Event(time.Now()), s, false},
		{"OKSessionRevoked", events.SessionRevoked{UserID: user, SessionID: sid, ExpiresAt: exp}.Event(time.Now()), s, true},
		{"OKOtherSession", events.SessionRevoked{UserID: user, SessionID: uuid.NewString(), ExpiresAt: exp}.Event(time.Now()), s, false},
		{"OKNoSession", events.SessionRevoked{UserID: user, SessionID: sid, ExpiresAt: exp}.Event(time.Now()), noSession, false},
		{"OKVersionAbove", events.UserTokensRevoked{UserID: user, Version: 3}.Event(time.Now()), s, true},
		{"OKVersionEqual", events.UserTokensRevoked{UserID: user, Version: 2}.Event(time.Now()), s, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := revokes(tc.ev, tc.s); got != tc.want {
				t.Fatalf("revokes = %v, want %v", got, tc.want)
			}
		})
	}
}

// TestStreamOpenedDuringARevocationIsRefused: a revocation the hub
// handled just before a stream registered never reaches the stream; the
// stream must then wait for the near-cache to apply it, and refuse the
// token. The hub is put ahead of the near-cache by hand: it handles the
// event before it is published.
func TestStreamOpenedDuringARevocationIsRefused(t *testing.T) {
	e := newEnv(t)
	a, url := e.replica(service.HTTPLimits{})
	user, jti := uuid.NewString(), uuid.NewString()
	tok := e.token(jwtx.Grant{Subject: user, ID: jti})
	ev := events.TokenRevoked{UserID: user, JTI: jti, ExpiresAt: time.Now().Add(time.Hour)}.Event(time.Now())
	a.hub.apply(ev, a.cache.AppliedSequence()+1) // the sequence ev is about to get

	type answer struct {
		status int
		err    error
	}
	got, release, done := make(chan answer, 1), make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, url+"/v1/stream", nil)
		if err != nil {
			got <- answer{err: err}
			return
		}
		req.Header.Set("Authorization", "Bearer "+tok)
		res, err := (&http.Client{Transport: &http.Transport{DisableKeepAlives: true}}).Do(req)
		if err != nil {
			got <- answer{err: err}
			return
		}
		defer res.Body.Close()
		got <- answer{status: res.StatusCode}
		<-release // keep a stream, if one opened, open until the test ends
	}()
	t.Cleanup(func() { close(release); <-done })
	// The middleware let the token through (the near-cache does not know
	// ev yet) and the stream is registered, waiting for the near-cache.
	testkit.Eventually(t, 5*time.Second, "the stream registered", func() bool { return a.hub.openStreams() == 1 })
	e.publish(ev)
	select {
	case ans := <-got:
		if ans.err != nil {
			t.Fatal(ans.err)
		}
		if ans.status != http.StatusUnauthorized {
			t.Fatalf("a stream whose token was revoked while it opened: %d, want 401", ans.status)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no answer")
	}
}
