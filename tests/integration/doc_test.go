// Package integration holds black-box tests of the built binaries (bin/auth,
// bin/revocation) against a real embedded nats-server and a real
// redis-server, checking the guarantees of docs/CONTRACT.md over HTTP.
package integration
