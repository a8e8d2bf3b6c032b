package permissions

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/redis/go-redis/v9"
)

// pki is a throw-away certificate authority with a server certificate for
// 127.0.0.1 and a client certificate, written as PEM files.
type pki struct {
	CA, ServerCert, ServerKey, ClientCert, ClientKey string // file paths
	Pool                                             *x509.CertPool
	Client                                           tls.Certificate
}

func newPKI(tb testing.TB) *pki {
	tb.Helper()
	dir := tb.TempDir()
	caKey, caCert := newCert(tb, "eventjwt test CA", nil, nil, true, nil)
	p := &pki{CA: writePEM(tb, dir, "ca.pem", "CERTIFICATE", caCert.Raw), Pool: x509.NewCertPool()}
	p.Pool.AddCert(caCert)
	srvKey, srv := newCert(tb, "server", caKey, caCert, false, []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth})
	p.ServerCert = writePEM(tb, dir, "server.pem", "CERTIFICATE", srv.Raw)
	p.ServerKey = writeKey(tb, dir, "server-key.pem", srvKey)
	cliKey, cli := newCert(tb, "client", caKey, caCert, false, []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth})
	p.ClientCert = writePEM(tb, dir, "client.pem", "CERTIFICATE", cli.Raw)
	p.ClientKey = writeKey(tb, dir, "client-key.pem", cliKey)
	p.Client = tls.Certificate{Certificate: [][]byte{cli.Raw}, PrivateKey: cliKey}
	return p
}

// newCert issues a certificate signed by parent (self-signed when nil).
func newCert(tb testing.TB, cn string, parentKey *ecdsa.PrivateKey, parent *x509.Certificate, isCA bool, usage []x509.ExtKeyUsage) (*ecdsa.PrivateKey, *x509.Certificate) {
	tb.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	serial, err := rand.Int(rand.Reader, big.NewInt(1<<62))
	if err != nil {
		tb.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial, Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Minute), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: usage,
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, DNSNames: []string{"localhost"},
	}
	if isCA {
		tmpl.IsCA, tmpl.BasicConstraintsValid = true, true
		tmpl.KeyUsage |= x509.KeyUsageCertSign
		parent, parentKey = tmpl, key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, &key.PublicKey, parentKey)
	if err != nil {
		tb.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		tb.Fatal(err)
	}
	return key, cert
}

func writePEM(tb testing.TB, dir, name, typ string, der []byte) string {
	tb.Helper()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		tb.Fatal(err)
	}
	return path
}

func writeKey(tb testing.TB, dir, name string, key *ecdsa.PrivateKey) string {
	tb.Helper()
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		tb.Fatal(err)
	}
	return writePEM(tb, dir, name, "PRIVATE KEY", der)
}

// uncommented returns the file at path with the commented lines that
// start with one of prefixes uncommented and every "/etc/<svc>/tls/<f>"
// path replaced by files[f]; it fails when nothing was uncommented (the
// TLS block is gone from the file).
func uncommented(tb testing.TB, path string, prefixes []string, files map[string]string) string {
	tb.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		tb.Fatal(err)
	}
	lines := strings.Split(string(data), "\n")
	n := 0
	for i, l := range lines {
		for _, p := range prefixes {
			if strings.HasPrefix(l, "#"+p) {
				lines[i] = strings.TrimPrefix(l, "#")
				for name, file := range files {
					for _, svc := range []string{"nats", "redis"} {
						lines[i] = strings.ReplaceAll(lines[i], "/etc/"+svc+"/tls/"+name, file)
					}
				}
				n++
				break
			}
		}
	}
	if n == 0 {
		tb.Fatalf("%s: no commented TLS settings found", path)
	}
	out := filepath.Join(tb.TempDir(), filepath.Base(path))
	if err := os.WriteFile(out, []byte(strings.Join(lines, "\n")), 0o600); err != nil {
		tb.Fatal(err)
	}
	return out
}

// TestNATSWithTLS runs deploy/nats/nats-server.conf with its commented tls
// block turned on (mutual TLS): a client needs a certificate from the CA
// and its password; without the certificate, or without TLS, it is
// refused.
func TestNATSWithTLS(t *testing.T) {
	p := newPKI(t)
	conf := uncommented(t, natsConf(t), []string{"tls {", "  cert_file", "  key_file", "  ca_file", "  verify", "  timeout", "}"},
		map[string]string{"server.pem": p.ServerCert, "server-key.pem": p.ServerKey, "ca.pem": p.CA})
	// The handshake deadline (timeout: 2) is raised: -race on a loaded
	// two-core CI machine can take longer than a real server would.
	n := startNATS(t, conf, func(o *server.Options) { o.TLSTimeout = 20 })
	url := "tls://" + n.Host

	t.Run("OKClientCertificateAndPassword", func(t *testing.T) {
		nc, err := nats.Connect(url, nats.UserInfo("auth", natsPassword("auth")), nats.CustomInboxPrefix("_INBOX_auth"), nats.Timeout(20*time.Second),
			nats.Secure(&tls.Config{RootCAs: p.Pool, Certificates: []tls.Certificate{p.Client}, MinVersion: tls.VersionTLS12}))
		if err != nil {
			t.Fatal(err)
		}
		defer nc.Close()
		if !nc.TLSRequired() {
			t.Fatal("connection is not TLS")
		}
		if err := nc.Flush(); err != nil {
			t.Fatal(err)
		}
	})
	for name, opts := range map[string][]nats.Option{
		"ErrNoClientCertificate": {nats.Secure(&tls.Config{RootCAs: p.Pool, MinVersion: tls.VersionTLS12})},
		"ErrUnknownServerCA":     {nats.Secure(&tls.Config{Certificates: []tls.Certificate{p.Client}, MinVersion: tls.VersionTLS12})},
		"ErrWrongPassword": {nats.UserInfo("auth", "guess"),
			nats.Secure(&tls.Config{RootCAs: p.Pool, Certificates: []tls.Certificate{p.Client}, MinVersion: tls.VersionTLS12})},
	} {
		t.Run(name, func(t *testing.T) {
			opts = append([]nats.Option{nats.UserInfo("auth", natsPassword("auth")), nats.NoReconnect(), nats.Timeout(20 * time.Second)}, opts...)
			nc, err := nats.Connect(url, opts...)
			if err == nil {
				nc.Close()
				t.Fatal("connected")
			}
		})
	}
}

// TestRedisWithTLS runs deploy/redis/redis.conf with its commented TLS
// settings turned on (plain-text port off, client certificates required):
// a client needs a certificate from the CA and its ACL password.
func TestRedisWithTLS(t *testing.T) {
	p := newPKI(t)
	conf := uncommented(t, deployPath(t, "redis", "redis.conf"), []string{"tls-"},
		map[string]string{"redis.pem": p.ServerCert, "redis-key.pem": p.ServerKey, "ca.pem": p.CA})
	good := &tls.Config{RootCAs: p.Pool, Certificates: []tls.Certificate{p.Client}, MinVersion: tls.VersionTLS12}
	r := startRedisConf(t, conf, good)

	t.Run("OKClientCertificateAndPassword", func(t *testing.T) {
		if err := r.client(t, "validator").Ping(t.Context()).Err(); err != nil {
			t.Fatal(err)
		}
	})
	for name, cfg := range map[string]*tls.Config{
		"ErrNoClientCertificate": {RootCAs: p.Pool, MinVersion: tls.VersionTLS12},
		"ErrPlainText":           nil,
	} {
		t.Run(name, func(t *testing.T) {
			c := redis.NewClient(&redis.Options{Addr: r.Addr, Username: "validator", Password: redisPassword("validator"),
				TLSConfig: cfg, MaxRetries: -1, DialTimeout: time.Second, ReadTimeout: time.Second})
			defer c.Close()
			if err := c.Ping(t.Context()).Err(); err == nil {
				t.Fatal("PING answered")
			}
		})
	}
	t.Run("ErrWrongPassword", func(t *testing.T) {
		c := redis.NewClient(&redis.Options{Addr: r.Addr, Username: "validator", Password: "guess", TLSConfig: good, MaxRetries: -1})
		defer c.Close()
		if err := c.Ping(t.Context()).Err(); err == nil || !strings.Contains(err.Error(), "WRONGPASS") {
			t.Fatalf("PING = %v, want WRONGPASS", err)
		}
	})
}
