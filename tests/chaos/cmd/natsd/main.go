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

	"github.com/nats-io/nats-server/v2/server"

	"github.com/eventjwt/eventjwt/internal/testkit"
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
	// sync_interval: always: a PubAck means fsynced.
	n, err := testkit.NewNATS(testkit.NATSName("chaos"), testkit.NATSPort(*port),
		testkit.NATSStoreDir(*store), testkit.NATSLogging())
	if err != nil {
		fmt.Fprintln(os.Stderr, "natsd:", err)
		os.Exit(1)
	}
	fmt.Println("natsd ready")
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	<-sig
	n.Shutdown()
}
