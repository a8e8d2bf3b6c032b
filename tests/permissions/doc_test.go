// Package permissions proves the least-privilege configuration in deploy/:
// it starts a real nats-server from deploy/nats/nats-server.conf and a real
// redis-server from deploy/redis/redis.conf with deploy/redis/users.acl,
// then shows for every identity that what it needs works and that what it
// must not do is refused, and finally runs bin/auth and bin/revocation
// under their restricted identities end to end.
//
// The files are used as they are. Only what cannot be fixed in a shared
// file is overridden: the listen port (a random free one, so that tests
// run side by side and next to a real deployment), the storage directory
// (a temporary one: /var/lib/... is neither writable nor disposable here)
// and, for Redis, the ACL file's path (a copy, so that ACL SAVE could never
// rewrite the repository's file).
//
// The passwords are the public test passwords the files were generated
// with ("nats-<user>-TEST-ONLY", "redis-<user>-TEST-ONLY"); a deployment
// replaces them (docs/SECURITY.md).
package permissions
