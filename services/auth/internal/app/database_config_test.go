package app

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

func TestParseConfigDatabaseURL(t *testing.T) {
	t.Run("OK", func(t *testing.T) {
		url := "postgres://auth:pw@db.internal:5432/auth?sslmode=verify-full"
		c, err := ParseConfig(envOf(map[string]string{"AUTH_DATABASE_URL": url}), nil, &bytes.Buffer{})
		if err != nil || c.DatabaseURL != url || c.DBPath != "auth.db" {
			t.Fatalf("%+v, %v", c, err)
		}
	})
	t.Run("OKFlag", func(t *testing.T) {
		c, err := ParseConfig(envOf(nil), []string{"-database-url", "postgresql://auth@db/auth"}, &bytes.Buffer{})
		if err != nil || c.DatabaseURL != "postgresql://auth@db/auth" {
			t.Fatalf("%+v, %v", c, err)
		}
	})
	for name, url := range map[string]string{
		"ErrScheme":   "mysql://auth:s3cret@db/auth",
		"ErrKeywords": "host=db password=s3cret",
		"ErrSSLMode":  "postgres://auth:s3cret@db/auth?sslmode=sometimes",
		"ErrPort":     "postgres://auth:s3cret@db:port/auth",
	} {
		t.Run(name, func(t *testing.T) {
			_, err := ParseConfig(envOf(map[string]string{"AUTH_DATABASE_URL": url}), nil, &bytes.Buffer{})
			if !errors.Is(err, ErrUsage) || !strings.Contains(err.Error(), "AUTH_DATABASE_URL") {
				t.Fatalf("err = %v, want ErrUsage naming AUTH_DATABASE_URL", err)
			}
			if strings.Contains(err.Error(), "s3cret") {
				t.Fatalf("error shows the password: %v", err)
			}
		})
	}
}
