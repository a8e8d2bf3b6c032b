package app

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

// The settings that let the service run under the least-privilege NATS
// user of deploy/nats (docs/SECURITY.md).
func TestParseConfigLeastPrivilegeSettings(t *testing.T) {
	c, err := ParseConfig(envOf(nil), nil, &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	if c.InboxPrefix != "_INBOX" || !c.ManageStream {
		t.Fatalf("defaults: inbox prefix %q, manage stream %v; want _INBOX, true", c.InboxPrefix, c.ManageStream)
	}
	c, err = ParseConfig(envOf(map[string]string{"NATS_INBOX_PREFIX": "_INBOX_auth", "AUTH_MANAGE_STREAM": "false"}), nil, &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	if c.InboxPrefix != "_INBOX_auth" || c.ManageStream {
		t.Fatalf("from the environment: inbox prefix %q, manage stream %v", c.InboxPrefix, c.ManageStream)
	}
	c, err = ParseConfig(envOf(nil), []string{"-nats-inbox-prefix", "_INBOX_a2", "-manage-stream=false"}, &bytes.Buffer{})
	if err != nil || c.InboxPrefix != "_INBOX_a2" || c.ManageStream {
		t.Fatalf("from flags: %q, %v, %v", c.InboxPrefix, c.ManageStream, err)
	}
	for _, bad := range []map[string]string{
		{"NATS_INBOX_PREFIX": "_INBOX.>"},
		{"NATS_INBOX_PREFIX": "_INBOX_auth."},
		{"NATS_INBOX_PREFIX": "a b"},
		{"AUTH_MANAGE_STREAM": "sometimes"},
	} {
		_, err := ParseConfig(envOf(bad), nil, &bytes.Buffer{})
		for k := range bad {
			if !errors.Is(err, ErrUsage) || !strings.Contains(err.Error(), k) {
				t.Errorf("%v: err = %v, want ErrUsage naming %s", bad, err, k)
			}
		}
	}
}
