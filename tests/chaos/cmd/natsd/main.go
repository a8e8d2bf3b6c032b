// Command natsd runs nats-server with JetStream file storage fsynced on
// every write (sync_interval: always) in its own process, so that the chaos
// harness can SIGKILL it and start it again on the same store directory.
//
//	natsd -port 4222 -store /tmp/js
//
// With -cluster-port and -routes it is one server of a cluster (the chaos
// harness runs three, each its own process, to kill -9 a stream leader).
package main

import (
	"flag"
	"fmt"
	"net/url"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/nats-io/nats-server/v2/server"

	"github.com/eventjwt/eventjwt/internal/testkit"
)

func main() {
	port := flag.Int("port", 4222, "client port on 127.0.0.1")
	store := flag.String("store", "", "JetStream store directory (required)")
	name := flag.String("name", "chaos", "server name (distinct in a cluster)")
	clusterPort := flag.Int("cluster-port", 0, "route port on 127.0.0.1 of a cluster (0: no cluster)")
	routes := flag.String("routes", "", "comma-separated route URLs of the cluster's servers (nats://127.0.0.1:port)")
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
	opts := []testkit.NATSOption{testkit.NATSName(*name), testkit.NATSPort(*port),
		testkit.NATSStoreDir(*store), testkit.NATSLogging()}
	if *clusterPort > 0 {
		var rs []*url.URL
		for _, r := range strings.Split(*routes, ",") {
			u, err := url.Parse(strings.TrimSpace(r))
			if err != nil {
				fmt.Fprintln(os.Stderr, "natsd: -routes:", err)
				os.Exit(2)
			}
			rs = append(rs, u)
		}
		opts = append(opts, testkit.NATSEdit(func(o *server.Options) {
			o.Cluster = server.ClusterOpts{Name: testkit.ClusterName, Host: "127.0.0.1", Port: *clusterPort}
			o.Routes = rs
		}))
	}
	n, err := testkit.NewNATS(opts...)
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
