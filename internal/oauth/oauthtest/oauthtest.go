// Package oauthtest drives the real OAuth authorization server of the tests (panva's
// oidc-provider, started by scripts/oauth-server.sh; its address is PLUGD_TEST_OAUTH_ISSUER)
// the way a user's browser and a resource server would: sign in and consent through its
// login pages with form posts, register clients (RFC 7591), introspect tokens (RFC 7662),
// revoke them (RFC 7009). Nothing here issues or checks a token itself.
package oauthtest

import (
	"context"
	"encoding/json"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"
)

// Issuer is the test server's issuer URL; the test is skipped when it is not set, unless
// PLUGD_TEST_REQUIRE_SERVICES=1 (then it fails).
func Issuer(t testing.TB) string {
	t.Helper()
	iss := os.Getenv("PLUGD_TEST_OAUTH_ISSUER")
	if iss == "" {
		if os.Getenv("PLUGD_TEST_REQUIRE_SERVICES") == "1" {
			t.Fatal("PLUGD_TEST_OAUTH_ISSUER is not set (run: set -a; . <(scripts/test-deps.sh); set +a)")
		}
		t.Skip("PLUGD_TEST_OAUTH_ISSUER is not set (scripts/oauth-server.sh starts the test authorization server)")
	}
	return strings.TrimSuffix(iss, "/")
}

// Client is a registered client.
type Client struct {
	ID     string `json:"client_id"`
	Secret string `json:"client_secret"`
}

// Register registers a confidential client (client_secret_basic, authorization_code and
// refresh_token) with the given redirect URIs.
func Register(t testing.TB, issuer string, redirectURIs ...string) Client {
	t.Helper()
	if redirectURIs == nil {
		redirectURIs = []string{} // a resource server's client: no redirects, no grants
	}
	meta := map[string]any{"redirect_uris": redirectURIs, "token_endpoint_auth_method": "client_secret_basic", "client_name": "plugd test"}
	if len(redirectURIs) == 0 {
		meta["grant_types"], meta["response_types"] = []string{}, []string{}
	} else {
		meta["grant_types"] = []string{"authorization_code", "refresh_token"}
	}
	body, _ := json.Marshal(meta)
	resp, err := http.Post(issuer+"/reg", "application/json", strings.NewReader(string(body)))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("registering a client: HTTP %d: %s", resp.StatusCode, b)
	}
	var c Client
	if err := json.Unmarshal(b, &c); err != nil || c.ID == "" {
		t.Fatalf("registration answer %s: %v", b, err)
	}
	return c
}

// Introspection is what the server says of a token.
type Introspection struct {
	Active   bool   `json:"active"`
	Sub      string `json:"sub"`
	Scope    string `json:"scope"`
	ClientID string `json:"client_id"`
	Aud      any    `json:"aud"`
	Exp      int64  `json:"exp"`
}

// Introspect asks the server about a token, authenticated as rs (a resource server's client).
func Introspect(ctx context.Context, issuer string, rs Client, token string) (Introspection, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, issuer+"/token/introspection", strings.NewReader(url.Values{"token": {token}}.Encode()))
	if err != nil {
		return Introspection{}, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(url.QueryEscape(rs.ID), url.QueryEscape(rs.Secret))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return Introspection{}, err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return Introspection{}, fmt.Errorf("introspection: HTTP %d: %s", resp.StatusCode, b)
	}
	var in Introspection
	return in, json.Unmarshal(b, &in)
}

// Revoke revokes a token at the server as client c (RFC 7009), as if the user withdrew the
// grant elsewhere.
func Revoke(t testing.TB, issuer string, c Client, token string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, issuer+"/token/revocation", strings.NewReader(url.Values{"token": {token}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(url.QueryEscape(c.ID), url.QueryEscape(c.Secret))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("revoking: HTTP %d: %s", resp.StatusCode, b)
	}
}

var (
	formRe  = regexp.MustCompile(`(?s)<form[^>]*action="([^"]+)"[^>]*method="post"[^>]*>(.*?)</form>`)
	inputRe = regexp.MustCompile(`<input[^>]*name="([^"]+)"(?:[^>]*value="([^"]*)")?`)
)

// Browser is a user agent with its own cookies: it follows the authorization server's
// redirects and fills its login and consent pages, and stops at the redirect URI.
type Browser struct {
	hc       *http.Client
	redirect string
	Login    string
}

// NewBrowser returns a browser that signs in as login and stops at URLs under redirect.
func NewBrowser(redirect, login string) *Browser {
	jar, _ := cookiejar.New(nil)
	b := &Browser{redirect: redirect, Login: login}
	b.hc = &http.Client{Jar: jar, Timeout: 30 * time.Second, CheckRedirect: func(req *http.Request, _ []*http.Request) error {
		if strings.HasPrefix(req.URL.String(), b.redirect) {
			return http.ErrUseLastResponse
		}
		return nil
	}}
	return b
}

// HTTP is the browser's client (its cookie jar), to visit the redirect URI with.
func (b *Browser) HTTP() *http.Client { return b.hc }

// Authorize opens authURL, signs in and consents as many times as asked, and returns the
// URL the server redirected to (the redirect URI with code and state, or an error).
func (b *Browser) Authorize(ctx context.Context, authURL string) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, authURL, nil)
	if err != nil {
		return "", err
	}
	for range 8 {
		resp, err := b.hc.Do(req)
		if err != nil {
			return "", err
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode/100 == 3 {
			loc, err := resp.Request.URL.Parse(resp.Header.Get("Location"))
			if err != nil {
				return "", err
			}
			if strings.HasPrefix(loc.String(), b.redirect) {
				return loc.String(), nil
			}
			req, _ = http.NewRequestWithContext(ctx, http.MethodGet, loc.String(), nil)
			continue
		}
		m := formRe.FindSubmatch(body)
		if resp.StatusCode != http.StatusOK || m == nil {
			return "", fmt.Errorf("%s answered HTTP %d without a form: %.300s", resp.Request.URL, resp.StatusCode, body)
		}
		action, err := resp.Request.URL.Parse(html.UnescapeString(string(m[1])))
		if err != nil {
			return "", err
		}
		form := url.Values{}
		for _, in := range inputRe.FindAllSubmatch(m[2], -1) {
			form.Set(string(in[1]), html.UnescapeString(string(in[2])))
		}
		if form.Has("login") {
			form.Set("login", b.Login)
			form.Set("password", "any password")
		}
		req, _ = http.NewRequestWithContext(ctx, http.MethodPost, action.String(), strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	return "", fmt.Errorf("no redirect to %s after 8 pages", b.redirect)
}
