package jwtx_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/eventjwt/eventjwt/pkg/jwtx/jwtxtest"
)

// What "no file, network or database access" rests on, for the corpus:
//
//   - Network: the only address in any hostile token is the attacker's key
//     server (jku, x5u, kid, jwk); it counts HTTP requests and accepted TCP
//     connections, and TestHostileTokens asserts both stay 0.
//   - Database: the revocation store (Redis in production) is consulted
//     only for tokens that passed every check; TestHostileTokens asserts
//     its call count equals the number of boundary cases that must pass.
//   - Descriptors: TestHostileTokens_NoNewDescriptors lists /proc/self/fd
//     before and after running the corpus 5 times: any file, socket or
//     pipe opened and left open (a leak, a pooled connection) shows up. A
//     descriptor opened and closed within the loop does not, hence:
//   - Files: TestHostileTokens_NoFileAccess re-runs the corpus in a child
//     test process started with -test.testlogfile, the hook through which
//     package os reports every Open, Stat, Getenv and Chdir to cmd/go (for
//     test caching). Between two marker Getenv calls around the corpus the
//     log must be empty. It sees what goes through package os (every
//     library here does: a fetch through net/http would also show as the
//     Getenv of HTTP_PROXY), not raw syscalls.

const (
	childEnv    = "JWTX_HOSTILE_CORPUS_CHILD"
	beginMarker = "JWTX_HOSTILE_CORPUS_BEGIN"
	endMarker   = "JWTX_HOSTILE_CORPUS_END"
	controlFile = "jwtx-control-probe-that-does-not-exist"
)

// runCorpus validates every token of the corpus rounds times, with a
// revocation store and the static key set.
func runCorpus(t *testing.T, rounds int) (run func()) {
	t.Helper()
	f := newHostileFixture(t)
	cases := f.corpus(t)
	vs := f.validators(t, cases, f.k.Keys, jwtxtest.NewMemoryStore())
	ctx := context.Background()
	run = func() {
		for range rounds {
			for _, tc := range cases {
				_, _ = vs.of(tc).Validate(ctx, tc.token)
			}
		}
	}
	run() // warm-up: first-use initialisation happens outside the measurement
	return run
}

// openFDs returns the process's open descriptors and what they point to.
func openFDs(t *testing.T) map[string]string {
	t.Helper()
	entries, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	fds := make(map[string]string, len(entries))
	for _, e := range entries {
		target, err := os.Readlink(filepath.Join("/proc/self/fd", e.Name()))
		if err != nil {
			continue // the descriptor ReadDir itself used, closed since
		}
		fds[e.Name()] = target
	}
	return fds
}

func TestHostileTokens_NoNewDescriptors(t *testing.T) {
	run := runCorpus(t, 1)
	before := openFDs(t)
	for range 5 {
		run()
	}
	after := openFDs(t)
	for fd, target := range after {
		if before[fd] != target {
			t.Errorf("descriptor %s -> %s opened while validating hostile tokens", fd, target)
		}
	}
}

func TestHostileTokens_NoFileAccess(t *testing.T) {
	if os.Getenv(childEnv) == "1" {
		run := runCorpus(t, 1)
		_ = os.Getenv(beginMarker)
		run()
		_ = os.Getenv(endMarker)
		// Control: proves the log records what happens here.
		_, _ = os.Stat(controlFile)
		return
	}
	log := filepath.Join(t.TempDir(), "testlog")
	cmd := exec.CommandContext(t.Context(), os.Args[0], "-test.run=^TestHostileTokens_NoFileAccess$", "-test.count=1", "-test.testlogfile="+log)
	cmd.Env = append(os.Environ(), childEnv+"=1")
	out, err := cmd.CombinedOutput()
	if err != nil {
		if strings.Contains(string(out), "flag provided but not defined") {
			t.Fatalf("this Go version has no -test.testlogfile (the file-access check cannot run): %s", out)
		}
		t.Fatalf("child: %v\n%s", err, out)
	}
	data, err := os.ReadFile(log)
	if err != nil {
		t.Fatal(err)
	}
	var inside, ended, control bool
	var accesses []string
	for line := range strings.Lines(string(data)) {
		line = strings.TrimSuffix(line, "\n")
		switch {
		case line == "getenv "+beginMarker:
			inside = true
		case line == "getenv "+endMarker:
			inside, ended = false, true
		case inside:
			accesses = append(accesses, line)
		case ended && line == "stat "+controlFile:
			control = true
		}
	}
	if !ended || !control {
		t.Fatalf("child test log lacks the corpus markers or the control stat (markers %v, control %v); output:\n%s", ended, control, out)
	}
	if len(accesses) > 0 {
		t.Errorf("validating hostile tokens touched files or the environment:\n%s", strings.Join(accesses, "\n"))
	}
}
