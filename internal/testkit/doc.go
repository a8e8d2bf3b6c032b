// Package testkit starts the real parts that tests, the chaos harness and
// devstack need: service binaries built once (Binaries, BuildBinaries),
// child processes supervised (Proc: start, SIGTERM with a deadline,
// kill -9, pause, restart, output kept), an embedded nats-server with
// JetStream (StartNATS, NewNATS), a redis-server process on a free port
// with options (StartRedis, NewRedis), and polling with deadlines
// (Eventually, Poll, WaitHTTP). The helpers taking a testing.TB clean up
// with the test; the others return errors and leave stopping to the
// caller.
//
//	nt := testkit.StartNATS(t)
//	rd := testkit.StartRedis(t)
package testkit
