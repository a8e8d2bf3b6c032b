package integration

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/eventjwt/eventjwt/pkg/events"
)

// noGrace starts the auth service without a reuse grace window: a spent
// refresh token presented again is reuse at once, so no test waits for a
// window to pass.
var noGrace = stackOpts{authEnv: []string{"AUTH_REFRESH_REUSE_GRACE=0s", "AUTH_LOGIN_RATE_IP=off"}}

// TestRefreshReuseRevokesTheSession: login, refresh, refresh (each answer
// a new pair), then the first refresh token again: 401
// refresh_token_reused, and at that moment every access token of the
// session is refused by a validator reading the same Redis, while a
// second session of the same user still works.
func TestRefreshReuseRevokesTheSession(t *testing.T) {
	s := newStack(t, noGrace)
	ms := newMicroservice(t, s)
	name, id := s.Register()

	first := s.LoginPair(name)
	second := s.MustRefresh(first.Refresh)
	third := s.MustRefresh(second.Refresh)
	other := s.LoginPair(name) // a second session of the same user
	tokens := []pair{first, second, third}
	for i, p := range tokens {
		if p.SID != first.SID {
			t.Fatalf("pair %d: sid %s, want the login's %s", i, p.SID, first.SID)
		}
		for j, q := range tokens[:i] {
			if p.Access == q.Access || p.Refresh == q.Refresh {
				t.Fatalf("pair %d repeats a token of pair %d: rotation must answer new tokens", i, j)
			}
		}
		ms.MustAccept("access token of pair "+strconv.Itoa(i)+" before the reuse", p.Access)
	}
	if other.SID == first.SID {
		t.Fatalf("two logins share the session %s", first.SID)
	}

	expectError(t, "reuse of the first refresh token", s.Refresh(first.Refresh), http.StatusUnauthorized, "refresh_token_reused")
	ms.MustRevoke("the login's access token right after the 401", first.Access)
	ms.MustRevoke("the first refresh's access token right after the 401", second.Access)
	ms.MustRevoke("the latest access token right after the 401", third.Access)
	ms.MustAccept("the second session's access token", other.Access)
	expectStatus(t, "me with the latest access token of the stolen session", s.Me(third.Access), http.StatusUnauthorized)

	// The whole family is dead: the live refresh token too.
	expectError(t, "refresh with the session's live refresh token", s.Refresh(third.Refresh), http.StatusUnauthorized, "invalid_grant")
	expectStatus(t, "the second session refreshes", s.Refresh(other.Refresh), http.StatusOK)

	want := []entry{{Type: events.TypeSessionRevoked, Reason: events.ReasonRefreshTokenReuse, ActorType: events.ActorSystem, ActorID: "auth", SID: first.SID}}
	if got := s.history(t, id); !slices.Equal(got, want) {
		t.Fatalf("history after the reuse:\n got %v\nwant %v", got, want)
	}
}

// TestConcurrentRefreshWithinGrace: eight tabs refresh the same token at
// once within the grace window; every one gets 200 and the same pair, and
// no revocation is published.
func TestConcurrentRefreshWithinGrace(t *testing.T) {
	s := newStack(t, stackOpts{authEnv: []string{"AUTH_REFRESH_REUSE_GRACE=1m"}})
	ms := newMicroservice(t, s)
	name, id := s.Register()
	login := s.LoginPair(name)

	const tabs = 8
	type answer struct {
		status int
		body   string
		err    error
	}
	answers := make([]answer, tabs)
	body, err := json.Marshal(map[string]string{"refresh_token": login.Refresh})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range tabs {
		wg.Go(func() {
			<-start
			st, b, err := rawPost(ctx, s.AuthURL+"/v1/auth/refresh", string(body))
			answers[i] = answer{st, b, err}
		})
	}
	close(start)
	wg.Wait()

	var got []pair
	for i, a := range answers {
		if a.err != nil {
			t.Fatalf("tab %d: %v", i, a.err)
		}
		got = append(got, parsePair(t, "tab "+strconv.Itoa(i), response{Status: a.status, Body: a.body}))
	}
	for i, p := range got {
		if p.Access != got[0].Access || p.Refresh != got[0].Refresh {
			t.Fatalf("tab %d got another pair than tab 0: concurrent refreshes within the grace window must get the same successor", i)
		}
	}
	if got[0].Refresh == login.Refresh || got[0].Access == login.Access || got[0].SID != login.SID {
		t.Fatalf("the successor pair repeats the login's tokens or changes session")
	}
	ms.MustAccept("the login's access token", login.Access)
	ms.MustAccept("the successor access token", got[0].Access)
	// The successor rotates normally.
	next := s.MustRefresh(got[0].Refresh)
	ms.MustAccept("the next access token", next.Access)
	if h := s.history(t, id); len(h) != 0 {
		t.Fatalf("concurrent refreshes within the grace window published revocations: %v", h)
	}
}

// TestRefreshAfterEveryRevocation: logout, logout-all-devices, DELETE
// /v1/auth/sessions/{sid} and a password change each end sessions; a
// refresh of an ended session is 401 invalid_grant, its access tokens are
// refused, and the user's history says why and who.
func TestRefreshAfterEveryRevocation(t *testing.T) {
	s := newStack(t, noGrace)
	ms := newMicroservice(t, s)
	user := func(id string) entry { return entry{ActorType: events.ActorUser, ActorID: id} }
	with := func(e entry, typ, reason, sid string) entry {
		e.Type, e.Reason, e.SID = typ, reason, sid
		return e
	}

	t.Run("Logout", func(t *testing.T) {
		name, id := s.Register()
		p := s.LoginPair(name)
		rotated := s.MustRefresh(p.Refresh)
		expectStatus(t, "logout", s.Logout(rotated.Access), http.StatusNoContent)
		expectError(t, "refresh after logout", s.Refresh(rotated.Refresh), http.StatusUnauthorized, "invalid_grant")
		ms.MustRevoke("the logged-out token", rotated.Access)
		ms.MustRevoke("the session's earlier access token", p.Access)
		got := s.history(t, id)
		// One token.revoked for the jti and one session.revoked, published
		// concurrently: either order.
		slices.SortFunc(got, func(a, b entry) int { return strings.Compare(a.Type, b.Type) })
		want := []entry{with(user(id), events.TypeSessionRevoked, events.ReasonLogout, p.SID), with(user(id), events.TypeTokenRevoked, events.ReasonLogout, "")}
		if !slices.Equal(got, want) {
			t.Fatalf("history after logout:\n got %v\nwant %v", got, want)
		}
	})
	t.Run("LogoutAll", func(t *testing.T) {
		name, id := s.Register()
		a, b := s.LoginPair(name), s.LoginPair(name)
		expectStatus(t, "logout-all", s.LogoutAll(a.Access), http.StatusNoContent)
		expectError(t, "refresh of the presenting session after logout-all", s.Refresh(a.Refresh), http.StatusUnauthorized, "invalid_grant")
		expectError(t, "refresh of the other session after logout-all", s.Refresh(b.Refresh), http.StatusUnauthorized, "invalid_grant")
		ms.MustRevoke("the other session's access token", b.Access)
		got := s.history(t, id)
		want := []entry{with(user(id), events.TypeUserTokensRevoked, events.ReasonLogoutAll, "")}
		if !slices.Equal(got, want) {
			t.Fatalf("history after logout-all:\n got %v\nwant %v", got, want)
		}
	})
	t.Run("DeleteSession", func(t *testing.T) {
		name, id := s.Register()
		keep, gone := s.LoginPair(name), s.LoginPair(name)
		expectStatus(t, "DELETE the other session", s.DeleteSession(keep.Access, gone.SID), http.StatusNoContent)
		expectError(t, "refresh of the deleted session", s.Refresh(gone.Refresh), http.StatusUnauthorized, "invalid_grant")
		ms.MustRevoke("the deleted session's access token", gone.Access)
		ms.MustAccept("the presenting session's access token", keep.Access)
		expectStatus(t, "the presenting session refreshes", s.Refresh(keep.Refresh), http.StatusOK)
		got := s.history(t, id)
		want := []entry{with(user(id), events.TypeSessionRevoked, events.ReasonSessionRevoked, gone.SID)}
		if !slices.Equal(got, want) {
			t.Fatalf("history after DELETE:\n got %v\nwant %v", got, want)
		}
	})
	t.Run("PasswordChange", func(t *testing.T) {
		name, id := s.Register()
		current, o1, o2 := s.LoginPair(name), s.LoginPair(name), s.LoginPair(name)
		const next = "a brand new passphrase"
		expectStatus(t, "change password", s.ChangePassword(current.Access, testPassword, next), http.StatusNoContent)
		for _, o := range []pair{o1, o2} {
			expectError(t, "refresh of another session after the password change", s.Refresh(o.Refresh), http.StatusUnauthorized, "invalid_grant")
			ms.MustRevoke("another session's access token", o.Access)
		}
		ms.MustAccept("the presenting session's access token", current.Access)
		expectStatus(t, "the presenting session refreshes", s.Refresh(current.Refresh), http.StatusOK)
		expectStatus(t, "login with the old password", s.do(http.MethodPost, s.AuthURL+"/v1/auth/login", "",
			map[string]string{"username": name, "password": testPassword}), http.StatusUnauthorized)
		ms.MustAccept("login with the new password", s.LoginPairWith(name, next).Access)
		got := s.history(t, id)
		slices.SortFunc(got, func(a, b entry) int { return strings.Compare(a.SID, b.SID) })
		want := []entry{with(user(id), events.TypeSessionRevoked, events.ReasonCredentialChange, o1.SID),
			with(user(id), events.TypeSessionRevoked, events.ReasonCredentialChange, o2.SID)}
		slices.SortFunc(want, func(a, b entry) int { return strings.Compare(a.SID, b.SID) })
		if !slices.Equal(got, want) {
			t.Fatalf("history after the password change:\n got %v\nwant %v", got, want)
		}
	})
	t.Run("PasswordChangeWrongCurrent", func(t *testing.T) {
		name, id := s.Register()
		current, other := s.LoginPair(name), s.LoginPair(name)
		expectStatus(t, "change password with a wrong current password",
			s.ChangePassword(current.Access, "not the password", "a brand new passphrase"), http.StatusUnauthorized)
		expectStatus(t, "the other session still refreshes", s.Refresh(other.Refresh), http.StatusOK)
		if h := s.history(t, id); len(h) != 0 {
			t.Fatalf("a refused password change published revocations: %v", h)
		}
	})
}

// TestSessionsListAndDelete: GET /v1/auth/sessions lists the user's live
// sessions with current set for the presenting one only; DELETE refuses
// other users' and unknown sids (404) and malformed ones (400).
func TestSessionsListAndDelete(t *testing.T) {
	s := newStack(t, noGrace)
	alice, _ := s.Register()
	bob, _ := s.Register()
	a := []pair{s.LoginPair(alice), s.LoginPair(alice), s.LoginPair(alice)}
	b := s.LoginPair(bob)

	list := func(t *testing.T, token string) map[string]bool {
		t.Helper()
		r := s.Sessions(token)
		expectStatus(t, "sessions", r, http.StatusOK)
		var body struct {
			Sessions []struct {
				SID        string `json:"sid"`
				CreatedAt  string `json:"created_at"`
				LastUsedAt string `json:"last_used_at"`
				UserAgent  string `json:"user_agent"`
				Current    *bool  `json:"current"`
			} `json:"sessions"`
		}
		if err := json.Unmarshal([]byte(r.Body), &body); err != nil {
			t.Fatalf("sessions body %q: %v", r.Body, err)
		}
		out := map[string]bool{}
		for _, ss := range body.Sessions {
			for _, ts := range []string{ss.CreatedAt, ss.LastUsedAt} {
				if _, err := time.Parse(time.RFC3339, ts); err != nil {
					t.Fatalf("session %s: time %q: %v", ss.SID, ts, err)
				}
			}
			if ss.Current == nil || ss.UserAgent == "" {
				t.Fatalf("session without current or user_agent: %s", r.Body)
			}
			if _, dup := out[ss.SID]; dup {
				t.Fatalf("session %s listed twice", ss.SID)
			}
			out[ss.SID] = *ss.Current
		}
		return out
	}

	t.Run("List", func(t *testing.T) {
		got := list(t, a[1].Access)
		want := map[string]bool{a[0].SID: false, a[1].SID: true, a[2].SID: false}
		if !maps.Equal(got, want) {
			t.Fatalf("alice's sessions seen with her second token: %v, want %v", got, want)
		}
		if got := list(t, b.Access); !maps.Equal(got, map[string]bool{b.SID: true}) {
			t.Fatalf("bob's sessions: %v", got)
		}
	})
	t.Run("ListUnauthenticated", func(t *testing.T) {
		expectStatus(t, "sessions without a token", s.Sessions(""), http.StatusUnauthorized)
		expectStatus(t, "sessions with garbage", s.Sessions("garbage"), http.StatusUnauthorized)
	})
	t.Run("ErrOtherUsersSession", func(t *testing.T) {
		expectStatus(t, "alice deletes bob's session", s.DeleteSession(a[0].Access, b.SID), http.StatusNotFound)
		expectStatus(t, "bob's session still refreshes", s.Refresh(b.Refresh), http.StatusOK)
	})
	t.Run("ErrUnknownSession", func(t *testing.T) {
		expectStatus(t, "unknown sid", s.DeleteSession(a[0].Access, uuid.NewString()), http.StatusNotFound)
	})
	t.Run("ErrMalformedSID", func(t *testing.T) {
		for _, sid := range []string{"not-a-uuid", strings.ToUpper(a[2].SID), a[2].SID + "0", strings.Repeat("a", 4000), "%00"} {
			expectStatus(t, "DELETE sid "+sid[:min(len(sid), 40)], s.DeleteSession(a[0].Access, sid), http.StatusBadRequest)
		}
	})
	t.Run("ErrUnauthenticatedDelete", func(t *testing.T) {
		expectStatus(t, "DELETE without a token", s.DeleteSession("", a[2].SID), http.StatusUnauthorized)
	})
	t.Run("DeleteOwn", func(t *testing.T) {
		expectStatus(t, "DELETE alice's third session", s.DeleteSession(a[0].Access, a[2].SID), http.StatusNoContent)
		got := list(t, a[0].Access)
		if want := map[string]bool{a[0].SID: true, a[1].SID: false}; !maps.Equal(got, want) {
			t.Fatalf("alice's sessions after the DELETE: %v, want %v", got, want)
		}
		expectStatus(t, "the deleted session's token lists", s.Sessions(a[2].Access), http.StatusUnauthorized)
		// Ending the presenting session itself works as logout.
		expectStatus(t, "DELETE the presenting session", s.DeleteSession(a[1].Access, a[1].SID), http.StatusNoContent)
		expectError(t, "refresh of the self-deleted session", s.Refresh(a[1].Refresh), http.StatusUnauthorized, "invalid_grant")
	})
}

// TestRefreshBadInput: malformed, oversized, empty, unknown and tampered
// refresh tokens are 400, 401, 413 or 415, never 5xx and never a token;
// another user's bearer header changes nothing about whose session a
// refresh token continues; no refresh token reaches the log.
func TestRefreshBadInput(t *testing.T) {
	s := newStack(t, noGrace)
	alice, aliceID := s.Register()
	bob, bobID := s.Register()
	ap, bp := s.LoginPair(alice), s.LoginPair(bob)
	url := s.AuthURL + "/v1/auth/refresh"
	random := make([]byte, 32)
	if _, err := rand.Read(random); err != nil {
		t.Fatal(err)
	}
	tampered := []byte(ap.Refresh)
	tampered[len(tampered)/2] ^= 0x01

	t.Run("ErrBody", func(t *testing.T) {
		for _, body := range []string{``, `{}`, `{"refresh_token":""}`, `{"refresh_token":1}`, `{"refresh_token":null}`,
			`not json`, `[]`, `{"refresh_token":"` + ap.Refresh + `"} trailing`} {
			r := s.do(http.MethodPost, url, "", body)
			expectStatus(t, "refresh body "+body, r, http.StatusBadRequest)
		}
	})
	t.Run("ErrOversize", func(t *testing.T) {
		big := `{"refresh_token":"` + strings.Repeat("a", 1<<20) + `"}`
		expectStatus(t, "refresh 1 MiB", s.do(http.MethodPost, url, "", big), http.StatusRequestEntityTooLarge)
	})
	t.Run("ErrDuplicateMember", func(t *testing.T) {
		r := s.do(http.MethodPost, url, "", `{"refresh_token":"`+ap.Refresh+`","refresh_token":"x"}`)
		if r.Status != http.StatusBadRequest && r.Status != http.StatusUnauthorized {
			t.Fatalf("refresh with a duplicate member: %d %s, want 400 or 401", r.Status, r.Body)
		}
	})
	t.Run("ErrNotJSON", func(t *testing.T) {
		r := s.doAs(http.MethodPost, url, "text/plain", `{"refresh_token":"`+ap.Refresh+`"}`)
		expectError(t, "refresh as text/plain", r, http.StatusUnsupportedMediaType, "unsupported_media_type")
	})
	t.Run("ErrInvalidGrant", func(t *testing.T) {
		for what, tok := range map[string]string{
			"short":              "abc",
			"not base64url":      strings.Repeat("!", len(ap.Refresh)),
			"one char longer":    ap.Refresh + "A",
			"one char shorter":   ap.Refresh[1:],
			"padded":             base64.URLEncoding.EncodeToString(random),
			"unknown":            base64.RawURLEncoding.EncodeToString(random),
			"tampered":           string(tampered),
			"an access token":    ap.Access,
			"long":               strings.Repeat("A", 8000),
			"control characters": "\x00\x01\x02",
			"whitespace around":  " " + ap.Refresh + " ",
			"all zero bits":      strings.Repeat("A", len(ap.Refresh)),
		} {
			expectError(t, "refresh with "+what, s.Refresh(tok), http.StatusUnauthorized, "invalid_grant")
		}
	})
	t.Run("AnotherUsersBearerChangesNothing", func(t *testing.T) {
		r := s.do(http.MethodPost, url, ap.Access, map[string]string{"refresh_token": bp.Refresh})
		next := parsePair(t, "bob's refresh token under alice's bearer", r)
		if next.SID != bp.SID {
			t.Fatalf("bob's refresh answered session %s, want bob's %s", next.SID, bp.SID)
		}
		ms := newMicroservice(t, s)
		c, err := ms.Validate(next.Access)
		if err != nil || c.Subject != bobID {
			t.Fatalf("the answered access token: claims %+v, err %v; want bob's (%s)", c, err, bobID)
		}
	})
	t.Run("BadInputRevokesNothing", func(t *testing.T) {
		expectStatus(t, "alice's refresh token after the bad input", s.Refresh(ap.Refresh), http.StatusOK)
		if h := s.history(t, aliceID); len(h) != 0 {
			t.Fatalf("bad input published revocations for alice: %v", h)
		}
	})
	t.Run("NeverLogged", func(t *testing.T) {
		out := s.Auth.Output()
		for _, tok := range []string{ap.Refresh, bp.Refresh, base64.RawURLEncoding.EncodeToString(random), string(tampered)} {
			if strings.Contains(out, tok) {
				t.Fatalf("a refresh token appears in the auth service's log")
			}
		}
	})
}
