package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// startNATS runs nats-server in this process with JetStream in c.natsDir(),
// fsyncing every write (sync_interval: always) so that an acknowledged
// revocation survives a crash.
func startNATS(c config) (url string, stop func(), err error) {
	port := c.natsPort
	if port <= 0 || !portFree(port) {
		port = server.RANDOM_PORT
	}
	opts := &server.Options{
		ServerName: "devstack",
		Host:       "127.0.0.1",
		Port:       port,
		JetStream:  true,
		StoreDir:   c.natsDir(),
		SyncAlways: true,
		NoSigs:     true,
		NoLog:      true,
	}
	srv, err := server.NewServer(opts)
	if err != nil {
		return "", nil, fmt.Errorf("nats-server: %w", err)
	}
	go srv.Start()
	if !srv.ReadyForConnections(10 * time.Second) {
		srv.Shutdown()
		return "", nil, errors.New("nats-server did not become ready")
	}
	addr, ok := srv.Addr().(*net.TCPAddr)
	if !ok {
		srv.Shutdown()
		return "", nil, errors.New("nats-server has no TCP address")
	}
	stop = func() {
		srv.Shutdown()
		srv.WaitForShutdown()
	}
	return "nats://" + net.JoinHostPort("127.0.0.1", strconv.Itoa(addr.Port)), stop, nil
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
