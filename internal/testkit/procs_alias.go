package testkit

// The names of package procs (processes, redis-server, ports, polling,
// latencies: testkit without NATS), offered here too so that a test needs
// one import.

import (
	"context"
	"crypto/tls"
	"io"
	"testing"
	"time"

	"github.com/eventjwt/eventjwt/internal/testkit/procs"
)

// Types of package procs.
type (
	// Buffer is procs.Buffer.
	Buffer = procs.Buffer
	// Latencies is procs.Latencies.
	Latencies = procs.Latencies
	// Proc is procs.Proc.
	Proc = procs.Proc
	// Redis is procs.Redis.
	Redis = procs.Redis
	// RedisOption is procs.RedisOption.
	RedisOption = procs.RedisOption
	// RedisSentinel is procs.RedisSentinel.
	RedisSentinel = procs.RedisSentinel
	// RedisSentinelOption is procs.RedisSentinelOption.
	RedisSentinelOption = procs.RedisSentinelOption
	// RedisCluster is procs.RedisCluster.
	RedisCluster = procs.RedisCluster
	// RedisClusterOption is procs.RedisClusterOption.
	RedisClusterOption = procs.RedisClusterOption
)

// Constants of package procs.
const (
	// SamplesDirEnv is procs.SamplesDirEnv.
	SamplesDirEnv = procs.SamplesDirEnv
	// WaitHTTPTimeout is procs.WaitHTTPTimeout.
	WaitHTTPTimeout = procs.WaitHTTPTimeout
	// DefaultStopTimeout is procs.DefaultStopTimeout.
	DefaultStopTimeout = procs.DefaultStopTimeout
	// SentinelMasterName is procs.SentinelMasterName.
	SentinelMasterName = procs.SentinelMasterName
)

// Errors of package procs.
var (
	// ErrStopTimeout is procs.ErrStopTimeout.
	ErrStopTimeout = procs.ErrStopTimeout
)

// Eventually is procs.Eventually.
func Eventually(tb testing.TB, timeout time.Duration, msg string, cond func() bool) {
	tb.Helper()
	procs.Eventually(tb, timeout, msg, cond)
}

// Poll is procs.Poll.
func Poll(ctx context.Context, timeout time.Duration, what string, cond func() bool) error {
	return procs.Poll(ctx, timeout, what, cond)
}

// HTTPStatus is procs.HTTPStatus.
func HTTPStatus(ctx context.Context, url string) (int, error) { return procs.HTTPStatus(ctx, url) }

// PollHTTP is procs.PollHTTP.
func PollHTTP(ctx context.Context, timeout time.Duration, url string, status int) error {
	return procs.PollHTTP(ctx, timeout, url, status)
}

// WaitHTTP is procs.WaitHTTP.
func WaitHTTP(tb testing.TB, url string, status int) {
	tb.Helper()
	procs.WaitHTTP(tb, url, status)
}

// PickPort is procs.PickPort.
func PickPort() (int, error) { return procs.PickPort() }

// PickAddr is procs.PickAddr.
func PickAddr() (string, error) { return procs.PickAddr() }

// FreePort is procs.FreePort.
func FreePort(tb testing.TB) int {
	tb.Helper()
	return procs.FreePort(tb)
}

// FreeAddr is procs.FreeAddr.
func FreeAddr(tb testing.TB) string {
	tb.Helper()
	return procs.FreeAddr(tb)
}

// NewProc is procs.NewProc.
func NewProc(name, path string, args, env []string) *Proc {
	return procs.NewProc(name, path, args, env)
}

// StartProc is procs.StartProc.
func StartProc(tb testing.TB, name, path string, env ...string) *Proc {
	tb.Helper()
	return procs.StartProc(tb, name, path, env...)
}

// RedisConfigFile is procs.RedisConfigFile.
func RedisConfigFile(path string) RedisOption { return procs.RedisConfigFile(path) }

// RedisArgs is procs.RedisArgs.
func RedisArgs(args ...string) RedisOption { return procs.RedisArgs(args...) }

// RedisACL is procs.RedisACL.
func RedisACL(path, user, password string) RedisOption { return procs.RedisACL(path, user, password) }

// RedisPersistent is procs.RedisPersistent.
func RedisPersistent() RedisOption { return procs.RedisPersistent() }

// RedisTLS is procs.RedisTLS.
func RedisTLS(clientTLS *tls.Config) RedisOption { return procs.RedisTLS(clientTLS) }

// RedisPort is procs.RedisPort.
func RedisPort(port int) RedisOption { return procs.RedisPort(port) }

// RedisOutput is procs.RedisOutput.
func RedisOutput(w io.Writer) RedisOption { return procs.RedisOutput(w) }

// StartRedis is procs.StartRedis.
func StartRedis(tb testing.TB, opts ...RedisOption) *Redis {
	tb.Helper()
	return procs.StartRedis(tb, opts...)
}

// StartRedisPersistent is procs.StartRedisPersistent.
func StartRedisPersistent(tb testing.TB, opts ...RedisOption) *Redis {
	tb.Helper()
	return procs.StartRedisPersistent(tb, opts...)
}

// NewRedis is procs.NewRedis.
func NewRedis(ctx context.Context, dir string, opts ...RedisOption) (*Redis, error) {
	return procs.NewRedis(ctx, dir, opts...)
}

// StartRedisSentinel is procs.StartRedisSentinel.
func StartRedisSentinel(tb testing.TB, opts ...RedisSentinelOption) *RedisSentinel {
	tb.Helper()
	return procs.StartRedisSentinel(tb, opts...)
}

// RedisSentinelDownAfter is procs.RedisSentinelDownAfter.
func RedisSentinelDownAfter(d time.Duration) RedisSentinelOption {
	return procs.RedisSentinelDownAfter(d)
}

// RedisSentinelFailoverTimeout is procs.RedisSentinelFailoverTimeout.
func RedisSentinelFailoverTimeout(d time.Duration) RedisSentinelOption {
	return procs.RedisSentinelFailoverTimeout(d)
}

// RedisSentinelNodeOptions is procs.RedisSentinelNodeOptions.
func RedisSentinelNodeOptions(opts ...RedisOption) RedisSentinelOption {
	return procs.RedisSentinelNodeOptions(opts...)
}

// StartRedisCluster is procs.StartRedisCluster.
func StartRedisCluster(tb testing.TB, opts ...RedisClusterOption) *RedisCluster {
	tb.Helper()
	return procs.StartRedisCluster(tb, opts...)
}

// RedisClusterNodeTimeout is procs.RedisClusterNodeTimeout.
func RedisClusterNodeTimeout(d time.Duration) RedisClusterOption {
	return procs.RedisClusterNodeTimeout(d)
}

// RedisClusterNodeOptions is procs.RedisClusterNodeOptions.
func RedisClusterNodeOptions(opts ...RedisOption) RedisClusterOption {
	return procs.RedisClusterNodeOptions(opts...)
}
