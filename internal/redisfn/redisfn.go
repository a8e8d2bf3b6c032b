// Package redisfn runs the services' Lua code as a Redis Functions library
// (FUNCTION LOAD once, FCALL by name) instead of EVAL, so that no service
// identity needs the right to run arbitrary Lua: the deploy/ ACLs grant
// +fcall, never +eval.
//
//	lib := redisfn.New("eventjwt_ratelimit", "", map[string]string{"allow": allowBody})
//	res, err := lib.Call(ctx, rdb, "allow", keys, args...).Int64Slice()
//
// A library's name ends with a digest of its code, so a new release loads a
// new library beside the old one and two versions of a service can run
// side by side during an upgrade. Call loads the library when Redis does
// not have it (a new or emptied Redis) if the connection's user may; if it
// may not (the deploy/ ACLs), the error says how an operator loads it.
// Servers without Functions (the in-process stand-in of make run) get the
// same code through EVALSHA/EVAL.
package redisfn

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// Client is what a Library needs of a go-redis client.
type Client interface {
	redis.Scripter
	FCall(ctx context.Context, function string, keys []string, args ...any) *redis.Cmd
	FunctionLoad(ctx context.Context, code string) *redis.StringCmd
}

// ErrNotLoaded means the library is not in Redis and the connection's user
// may not load it.
var ErrNotLoaded = errors.New("redisfn: library not loaded")

// Library is a set of Lua functions sharing helper code. It is safe for
// concurrent use.
type Library struct {
	prefix  string
	name    string
	code    string
	scripts map[string]*redis.Script
}

// New returns the library prefix_<digest> of the given functions. Each
// body is Lua that reads KEYS and ARGV and returns a value, exactly as an
// EVAL script; helpers is Lua (local functions) shared by every body.
// Names must be Lua identifiers ([A-Za-z_][A-Za-z0-9_]*).
func New(prefix, helpers string, bodies map[string]string) *Library {
	names := slices.Sorted(maps.Keys(bodies))
	h := sha256.New()
	h.Write([]byte(helpers))
	for _, n := range names {
		_, _ = fmt.Fprintf(h, "\x00%s\x00%s", n, bodies[n])
	}
	l := &Library{
		prefix:  prefix,
		name:    prefix + "_" + hex.EncodeToString(h.Sum(nil))[:12],
		scripts: make(map[string]*redis.Script, len(bodies)),
	}
	var b strings.Builder
	fmt.Fprintf(&b, "#!lua name=%s\n%s\n", l.name, helpers)
	for _, n := range names {
		fmt.Fprintf(&b, "redis.register_function('%s', function(KEYS, ARGV)\n%s\nend)\n", l.function(n), bodies[n])
		l.scripts[n] = redis.NewScript(helpers + "\n" + bodies[n])
	}
	l.code = b.String()
	return l
}

// Name returns the library's name, as FUNCTION LIST shows it.
func (l *Library) Name() string { return l.name }

// Code returns the library's source, for FUNCTION LOAD.
func (l *Library) Code() string { return l.code }

// function returns the Redis name of function fn of this library.
func (l *Library) function(fn string) string { return l.name + "_" + fn }

// Load loads the library into Redis unless it is there already.
func (l *Library) Load(ctx context.Context, rdb Client) error {
	err := rdb.FunctionLoad(ctx, l.code).Err()
	switch {
	case err == nil, err != nil && strings.Contains(err.Error(), "already exists"):
		return nil
	case isNoPerm(err):
		return fmt.Errorf("%w: Redis has no library %s and this user may not load it; "+
			"load it once as an admin (redis-cli --user admin -x FUNCTION LOAD < deploy/redis/functions/%s.lua): %w",
			ErrNotLoaded, l.name, l.prefix, err)
	default:
		return fmt.Errorf("redisfn: load library %s: %w", l.name, err)
	}
}

// Call runs function fn of the library with FCALL, loading the library
// first when Redis does not have it.
func (l *Library) Call(ctx context.Context, rdb Client, fn string, keys []string, args ...any) *redis.Cmd {
	s, ok := l.scripts[fn]
	if !ok {
		cmd := redis.NewCmd(ctx)
		cmd.SetErr(fmt.Errorf("redisfn: library %s has no function %q", l.name, fn))
		return cmd
	}
	cmd := rdb.FCall(ctx, l.function(fn), keys, args...)
	err := cmd.Err()
	switch {
	case err == nil || errors.Is(err, redis.Nil):
		return cmd
	case isUnknownCommand(err):
		// Not remembered: the same Library may serve several servers. Only
		// a stand-in without Functions pays the extra round trip.
		return s.Run(ctx, rdb, keys, args...)
	case !isNotFound(err):
		return cmd
	}
	if err := l.Load(ctx, rdb); err != nil {
		cmd := redis.NewCmd(ctx)
		cmd.SetErr(err)
		return cmd
	}
	return rdb.FCall(ctx, l.function(fn), keys, args...)
}

func isNotFound(err error) bool {
	return strings.Contains(err.Error(), "Function not found")
}

func isUnknownCommand(err error) bool {
	msg := strings.ToLower(err.Error())
	return strings.Contains(msg, "unknown command") && strings.Contains(msg, "fcall")
}

func isNoPerm(err error) bool {
	return strings.HasPrefix(err.Error(), "NOPERM")
}

// CheckFile reports whether the file at path holds the library's code, as
// operators load it (deploy/redis/functions/<prefix>.lua). With update set
// it writes the file instead. Tests of each library call it, so that the
// committed file never lags behind the code.
func (l *Library) CheckFile(path string, update bool) error {
	if update {
		if err := os.WriteFile(path, []byte(l.code), 0o644); err != nil {
			return fmt.Errorf("redisfn: write %s: %w", path, err)
		}
		return nil
	}
	got, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("redisfn: read %s: %w", path, err)
	}
	if string(got) != l.code {
		return fmt.Errorf("redisfn: %s does not hold library %s: regenerate it with the test's -update flag", path, l.name)
	}
	return nil
}

// Invocation is one function call of a CallAll.
type Invocation struct {
	Fn   string
	Keys []string
	Args []any
}

// PipelineClient is a Client that can also pipeline (a *redis.Client:
// one connection per pipeline, which WAIT needs).
type PipelineClient interface {
	Client
	Pipelined(ctx context.Context, fn func(redis.Pipeliner) error) ([]redis.Cmder, error)
}

// NotChecked is the replica count CallAll reports when it could not ask
// (a stand-in without Functions, where the calls ran one by one).
const NotChecked = -1

// CallAll runs calls in one pipeline, in order, on one connection of rdb,
// followed by WAIT replicas timeout when replicas > 0: the replica count
// it returns is how many replicas acknowledged every write of the calls
// (and of everything this connection wrote before). The library is
// loaded first when Redis lacks it, as with Call. It returns the calls'
// replies, in order; err is set when the pipeline itself failed or any
// call failed (each reply keeps its own error).
func (l *Library) CallAll(ctx context.Context, rdb PipelineClient, calls []Invocation, replicas int, timeout time.Duration) ([]*redis.Cmd, int64, error) {
	for _, c := range calls {
		if _, ok := l.scripts[c.Fn]; !ok {
			return nil, 0, fmt.Errorf("redisfn: library %s has no function %q", l.name, c.Fn)
		}
	}
	for attempt := 0; ; attempt++ {
		cmds := make([]*redis.Cmd, len(calls))
		var wait *redis.Cmd
		_, _ = rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
			for i, c := range calls {
				cmds[i] = p.FCall(ctx, l.function(c.Fn), c.Keys, c.Args...)
			}
			if replicas > 0 {
				wait = p.Do(ctx, "WAIT", replicas, timeout.Milliseconds())
			}
			return nil
		})
		var first error
		notFound, unknown := false, false
		for _, cmd := range cmds {
			err := cmd.Err()
			if err == nil || errors.Is(err, redis.Nil) {
				continue
			}
			notFound = notFound || isNotFound(err)
			unknown = unknown || isUnknownCommand(err)
			if first == nil {
				first = err
			}
		}
		switch {
		case unknown:
			return l.callOneByOne(ctx, rdb, calls)
		case notFound && attempt == 0:
			if err := l.Load(ctx, rdb); err != nil {
				return cmds, 0, err
			}
			continue
		case first != nil:
			return cmds, 0, first
		}
		if wait == nil {
			return cmds, 0, nil
		}
		n, err := wait.Int64()
		if err != nil {
			return cmds, 0, fmt.Errorf("redisfn: WAIT %d: %w", replicas, err)
		}
		return cmds, n, nil
	}
}

// callOneByOne runs the calls as scripts, for a stand-in without Functions.
func (l *Library) callOneByOne(ctx context.Context, rdb Client, calls []Invocation) ([]*redis.Cmd, int64, error) {
	cmds := make([]*redis.Cmd, len(calls))
	for i, c := range calls {
		cmds[i] = l.scripts[c.Fn].Run(ctx, rdb, c.Keys, c.Args...)
		if err := cmds[i].Err(); err != nil && !errors.Is(err, redis.Nil) {
			return cmds, NotChecked, err
		}
	}
	return cmds, NotChecked, nil
}
