package chaos

import (
	"bufio"
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// httpc is the harness's HTTP client: keep-alive to every service, bounded
// by a timeout far above any budget so that a hang is seen as a failure.
var httpc = &http.Client{
	Timeout: 20 * time.Second,
	Transport: &http.Transport{
		MaxIdleConns: 512, MaxIdleConnsPerHost: 128, IdleConnTimeout: 30 * time.Second,
		DisableCompression: true,
	},
}

// call is one HTTP exchange: the status (0 on a transport error), the body
// and when the request started and the answer arrived.
type call struct {
	Status     int
	Body       string
	Start, End time.Time
	Err        error
}

// do sends one request; body, when not "", is sent as JSON.
func do(ctx context.Context, method, url, token, body string) call {
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, url, rd)
	if err != nil {
		return call{Err: err}
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	c := call{Start: time.Now()}
	resp, err := httpc.Do(req)
	if err != nil {
		c.End, c.Err = time.Now(), err
		return c
	}
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	_ = resp.Body.Close()
	c.End, c.Status, c.Body, c.Err = time.Now(), resp.StatusCode, string(raw), err
	return c
}

// get is do for a GET without a token.
func get(ctx context.Context, url string) (int, string, error) {
	c := do(ctx, http.MethodGet, url, "", "")
	return c.Status, c.Body, c.Err
}

// claims is what the oracle needs from a token's payload (read without
// verification: the harness trusts the auth service that issued it).
type claims struct {
	Sub string `json:"sub"`
	JTI string `json:"jti"`
	SID string `json:"sid"`
	Ver int64  `json:"ver"`
	Exp int64  `json:"exp"`
}

func peek(token string) (claims, bool) {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return claims{}, false
	}
	raw, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return claims{}, false
	}
	var c claims
	return c, json.Unmarshal(raw, &c) == nil && c.JTI != "" && c.Sub != ""
}

// metric sums the samples of a Prometheus text exposition whose name is
// name (any labels); ok is false when there is none.
func metric(text, name string) (sum float64, ok bool) {
	sc := bufio.NewScanner(strings.NewReader(text))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, name) {
			continue
		}
		rest := line[len(name):]
		if rest == "" || (rest[0] != ' ' && rest[0] != '{') {
			continue
		}
		f := strings.Fields(line)
		v, err := strconv.ParseFloat(f[len(f)-1], 64)
		if err == nil {
			sum, ok = sum+v, true
		}
	}
	return sum, ok
}

// scrape returns the metric name of url+"/metrics" (a service's metrics
// listener, a validator's own address), or -1 when unavailable.
func scrape(ctx context.Context, url, name string) float64 {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	code, body, err := get(ctx, url+"/metrics")
	if err != nil || code != http.StatusOK {
		return -1
	}
	v, ok := metric(body, name)
	if !ok {
		return -1
	}
	return v
}
