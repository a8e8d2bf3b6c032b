// Command natsd runs nats-server with JetStream file storage fsynced on
// every write (sync_interval: always) in its own process, so that the chaos
// harness can SIGKILL it and start it again on the same store directory.
//
//	natsd -port 4222 -store /tmp/js
package main

import (
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

func main() {
	port := flag.Int("port", 4222, "client port on 127.0.0.1")
	store := flag.String("store", "", "JetStream store directory (required)")
	version := flag.Bool("version", false, "print the embedded nats-server version and exit")
	flag.Parse()
	if *version {
		fmt.Println(server.VERSION)
		return
	}
	if *store == "" {
		fmt.Fprintln(os.Stderr, "natsd: -store is required")
		os.Exit(2)
	}
	opts := &server.Options{
		ServerName: "chaos",
		Host:       "127.0.0.1",
		Port:       *port,
		JetStream:  true,
		StoreDir:   *store,
		SyncAlways: true, // sync_interval: always: a PubAck means fsynced
		NoSigs:     true,
	}
	srv, err := server.NewServer(opts)
	if err != nil {
		fmt.Fprintln(os.Stderr, "natsd:", err)
		os.Exit(1)
	}
	srv.ConfigureLogger()
	go srv.Start()
	if !srv.ReadyForConnections(30 * time.Second) {
		fmt.Fprintln(os.Stderr, "natsd: not ready")
		os.Exit(1)
	}
	fmt.Println("natsd ready")
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	<-sig
	srv.Shutdown()
	srv.WaitForShutdown()
}
