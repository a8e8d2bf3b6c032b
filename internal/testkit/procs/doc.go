// Package procs is the part of testkit that needs no NATS: child
// processes supervised (Proc), a redis-server process on a free port
// (StartRedis, NewRedis), free ports, polling with deadlines (Eventually,
// Poll, WaitHTTP) and latency samples (Latencies). Package testkit
// offers every name here too; a module that must not depend on NATS, even
// in its tests (pkg/jwtx: its users would see nats-server in their module
// graph), imports this package instead.
//
//	rd := procs.StartRedis(t)
//	procs.Eventually(t, time.Second, "key written", func() bool { return rd.Client(t).Exists(ctx, k).Val() == 1 })
package procs
