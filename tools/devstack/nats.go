package main

import (
	"context"
	"net"
	"strconv"

	"github.com/nats-io/nats-server/v2/server"

	"github.com/eventjwt/eventjwt/internal/testkit"
)

// startNATS runs nats-server in this process with JetStream in c.natsDir(),
// fsyncing every write (sync_interval: always) so that an acknowledged
// revocation survives a crash.
func startNATS(c config) (url string, stop func(), err error) {
	port := c.natsPort
	if port <= 0 || !portFree(port) {
		port = server.RANDOM_PORT
	}
	n, err := testkit.NewNATS(testkit.NATSName("devstack"), testkit.NATSPort(port), testkit.NATSStoreDir(c.natsDir()))
	if err != nil {
		return "", nil, err
	}
	return n.URL, n.Shutdown, nil
}

func portFree(port int) bool {
	var lc net.ListenConfig
	l, err := lc.Listen(context.Background(), "tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
	if err != nil {
		return false
	}
	_ = l.Close()
	return true
}
