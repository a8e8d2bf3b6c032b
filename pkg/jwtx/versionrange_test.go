package jwtx_test

import (
	"context"
	"errors"
	"math"
	"strconv"
	"testing"

	"github.com/eventjwt/eventjwt/pkg/jwtx"
)

// Versions beyond 2^53 (red-team finding 2): events.MaxVersion now bars
// them from new events, but Redis may still hold one. The token's ver and
// the user version are compared as exact int64s (a float64 would see 2^53
// and 2^53+1 as equal and accept a revoked token), and a Redis value that
// does not fit an int64 fails closed.
func TestRedisStore_VersionsBeyond2To53(t *testing.T) {
	f := startRedis(t)
	f.set(t, jwtx.KeyCheckpoint, "1")
	k := fixedKit(t)
	v := k.Validator(t, jwtx.NewRedisStore(f.rdb))
	issue := func(ver int64) string {
		tok, _, err := k.Signer.Issue(testSub, ver)
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	const big = 1<<53 + 1
	cases := []struct {
		name  string
		redis string
		ver   int64
		want  error
	}{
		{"Above2To53Equal", strconv.Itoa(big), big, nil},
		{"Above2To53OneBelow", strconv.Itoa(big), big - 1, jwtx.ErrRevoked},
		{"MaxInt64Equal", strconv.FormatInt(math.MaxInt64, 10), math.MaxInt64, nil},
		{"MaxInt64OneBelow", strconv.FormatInt(math.MaxInt64, 10), math.MaxInt64 - 1, jwtx.ErrRevoked},
		{"MaxInt64TokenAboveSmallVersion", "3", math.MaxInt64, nil},
		{"OverflowFailsClosed", "9223372036854775808", math.MaxInt64, jwtx.ErrRevocationUnavailable},
		{"HugeFailsClosed", "99999999999999999999999999", 0, jwtx.ErrRevocationUnavailable},
		{"FloatSyntaxFailsClosed", "9.007199254740993e15", big, jwtx.ErrRevocationUnavailable},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f.set(t, jwtx.UserVersionKey(testSub), tc.redis)
			_, err := v.Validate(context.Background(), issue(tc.ver))
			if !errors.Is(err, tc.want) || (tc.want == nil) != (err == nil) {
				t.Fatalf("Redis version %s, token ver %d: Validate = %v, want %v", tc.redis, tc.ver, err, tc.want)
			}
		})
	}
}
