package testkit_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/redis/go-redis/v9"

	"github.com/eventjwt/eventjwt/internal/testkit"
)

func TestRedisRestartComesBackEmpty(t *testing.T) {
	rd := testkit.StartRedis(t)
	c := rd.Client(t)
	ctx := t.Context()
	if err := c.Set(ctx, "k", "v", 0).Err(); err != nil {
		t.Fatal(err)
	}
	policy, err := c.ConfigGet(ctx, "maxmemory-policy").Result()
	if err != nil || policy["maxmemory-policy"] != "noeviction" {
		t.Fatalf("maxmemory-policy = %v, %v", policy, err)
	}
	rd.Restart(t)
	testkit.Eventually(t, 5*time.Second, "client reconnects", func() bool { return c.Ping(ctx).Err() == nil })
	if err := c.Get(ctx, "k").Err(); !errors.Is(err, redis.Nil) {
		t.Fatalf("after restart GET k = %v, want redis.Nil", err)
	}
}

func TestRedisPersistentRestartKeepsData(t *testing.T) {
	rd := testkit.StartRedisPersistent(t)
	c := rd.Client(t)
	ctx := t.Context()
	if err := c.Set(ctx, "k", "v", 0).Err(); err != nil {
		t.Fatal(err)
	}
	rd.Restart(t)
	testkit.Eventually(t, 5*time.Second, "data back after restart", func() bool {
		v, err := c.Get(ctx, "k").Result()
		return err == nil && v == "v"
	})
}

func TestRedisPauseHangsClients(t *testing.T) {
	rd := testkit.StartRedis(t)
	c := redis.NewClient(&redis.Options{Addr: rd.Addr, ContextTimeoutEnabled: true, MaxRetries: -1})
	defer c.Close()
	if err := c.Ping(t.Context()).Err(); err != nil {
		t.Fatal(err)
	}
	rd.Pause(t)
	ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
	err := c.Ping(ctx).Err()
	cancel()
	if err == nil {
		t.Fatalf("PING answered while redis-server was stopped")
	}
	rd.Resume(t)
	testkit.Eventually(t, 5*time.Second, "answers after resume", func() bool { return c.Ping(t.Context()).Err() == nil })
}

func TestNATSRestartKeepsStreams(t *testing.T) {
	nt := testkit.StartNATS(t)
	js := nt.JetStream(t)
	ctx := t.Context()
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "S", Subjects: []string{"s.>"}, Storage: jetstream.FileStorage}); err != nil {
		t.Fatal(err)
	}
	if _, err := js.Publish(ctx, "s.1", []byte("x")); err != nil {
		t.Fatal(err)
	}
	url := nt.URL
	nt.Restart(t)
	if nt.URL != url {
		t.Fatalf("URL changed across restart: %s -> %s", url, nt.URL)
	}
	testkit.Eventually(t, 10*time.Second, "stream recovered with its message", func() bool {
		s, err := js.Stream(ctx, "S")
		if err != nil {
			return false
		}
		info, err := s.Info(ctx)
		return err == nil && info.State.Msgs == 1
	})
}

func TestLatenciesPercentiles(t *testing.T) {
	var l testkit.Latencies
	for i := 100; i >= 1; i-- {
		l.Add(time.Duration(i) * time.Millisecond)
	}
	for _, tc := range []struct {
		p    float64
		want time.Duration
	}{{50, 50 * time.Millisecond}, {99, 99 * time.Millisecond}, {100, 100 * time.Millisecond}, {1, time.Millisecond}} {
		if got := l.Percentile(tc.p); got != tc.want {
			t.Errorf("p%v = %v, want %v", tc.p, got, tc.want)
		}
	}
	if l.Len() != 100 {
		t.Errorf("Len = %d, want 100", l.Len())
	}
}

func TestRedisOptions(t *testing.T) {
	dir := t.TempDir()
	conf := filepath.Join(dir, "redis.conf")
	if err := os.WriteFile(conf, []byte("bind 127.0.0.1\nmaxmemory-policy allkeys-lru\nappendonly no\nsave \"\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	acl := filepath.Join(dir, "users.acl")
	if err := os.WriteFile(acl, []byte("user default off\nuser admin on >secret ~* &* +@all\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	rd := testkit.StartRedis(t, testkit.RedisConfigFile(conf), testkit.RedisACL(acl, "admin", "secret"),
		testkit.RedisArgs("--maxclients", "123"))
	c := rd.Client(t)
	ctx := t.Context()
	got, err := c.ConfigGet(ctx, "*").Result()
	if err != nil {
		t.Fatal(err)
	}
	if got["maxmemory-policy"] != "allkeys-lru" || got["maxclients"] != "123" || got["aclfile"] != filepath.Join(rd.Dir, "users.acl") {
		t.Fatalf("config file, args or ACL file not used: policy %q, maxclients %q, aclfile %q",
			got["maxmemory-policy"], got["maxclients"], got["aclfile"])
	}
	anon := redis.NewClient(&redis.Options{Addr: rd.Addr, MaxRetries: -1})
	defer anon.Close()
	if err := anon.Ping(ctx).Err(); err == nil {
		t.Fatal("the default user answered: ACL file not used")
	}
}

func TestNATSOptions(t *testing.T) {
	conf := filepath.Join(t.TempDir(), "nats.conf")
	if err := os.WriteFile(conf, []byte("listen: 127.0.0.1:4222\njetstream {}\nauthorization { user: a, password: b }\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	nt := testkit.StartNATS(t, testkit.NATSConfigFile(conf), testkit.NATSEdit(func(o *server.Options) { o.MaxPayload = 4096 }))
	if strings.HasSuffix(nt.URL, ":4222") {
		t.Fatalf("URL %s: the config file's port was kept, want a random one", nt.URL)
	}
	if nc, err := nats.Connect(nt.URL, nats.NoReconnect()); err == nil {
		nc.Close()
		t.Fatal("connected without the config file's credentials")
	}
	nc, err := nats.Connect(nt.URL, nats.UserInfo("a", "b"))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	if nc.MaxPayload() != 4096 {
		t.Fatalf("MaxPayload = %d, want 4096 (NATSEdit)", nc.MaxPayload())
	}
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := js.AccountInfo(t.Context()); err != nil {
		t.Fatalf("JetStream from the config file: %v", err)
	}
}
