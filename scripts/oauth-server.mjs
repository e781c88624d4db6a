// The OAuth 2 / OpenID Connect authorization server the tests of internal/oauth (and anyone
// who wants a real one on loopback) run against: panva's oidc-provider from npm, configured
// here and nowhere else. scripts/oauth-server.sh installs the package and starts this file;
// nothing in it issues, checks or refreshes a token itself — that is all oidc-provider's.
//
// What it offers, as the tests need it:
//   - discovery (RFC 8414 and OpenID Connect) at the issuer's well-known URLs;
//   - authorization code with PKCE (required for every client), refresh tokens for every
//     client allowed the refresh_token grant, rotated on every use (so a double refresh
//     shows as a revoked grant);
//   - open dynamic client registration (RFC 7591) at /reg, revocation (RFC 7009) and
//     introspection (RFC 7662);
//   - resource indicators (RFC 8707): a token asked for with resource=URL is for that URL
//     (its aud), opaque, introspectable;
//   - the library's development login and consent pages (devInteractions): any login name
//     and password sign in, which a test drives with plain form posts.
//
// Environment: OAUTH_PORT (default 9410), OAUTH_HOST (default 127.0.0.1),
// OAUTH_ACCESS_TTL (seconds, default 3600).
import Provider from 'oidc-provider';

const host = process.env.OAUTH_HOST || '127.0.0.1';
const port = Number(process.env.OAUTH_PORT || 9410);
const issuer = `http://${host}:${port}`;
const accessTTL = Number(process.env.OAUTH_ACCESS_TTL || 3600);

const provider = new Provider(issuer, {
  // Any login is an account whose subject is the login name.
  async findAccount(ctx, id) {
    return { accountId: id, async claims() { return { sub: id }; } };
  },
  scopes: ['openid', 'offline_access', 'api:read', 'api:write', 'mcp:tools'],
  clientDefaults: {
    grant_types: ['authorization_code', 'refresh_token'],
    response_types: ['code'],
    token_endpoint_auth_method: 'client_secret_basic',
  },
  pkce: { required: () => true },
  issueRefreshToken: async (ctx, client) => client.grantTypeAllowed('refresh_token'),
  rotateRefreshToken: true,
  ttl: {
    AccessToken: accessTTL,
    AuthorizationCode: 300,
    RefreshToken: 14 * 24 * 3600,
    Grant: 14 * 24 * 3600,
    Interaction: 600,
    Session: 24 * 3600,
  },
  features: {
    devInteractions: { enabled: true },
    registration: { enabled: true },
    revocation: { enabled: true },
    introspection: { enabled: true },
    resourceIndicators: {
      enabled: true,
      // A request without resource gets a token for the issuer's own API audience, so that
      // plain OAuth 2 clients (an OpenAPI tool) get an introspectable access token too.
      defaultResource: async (ctx, client, oneOf) => oneOf || `${issuer}/api`,
      useGrantedResource: async () => true,
      getResourceServerInfo: async (ctx, resource) => ({
        scope: 'api:read api:write mcp:tools',
        audience: resource,
        accessTokenTTL: accessTTL,
        accessTokenFormat: 'opaque',
      }),
    },
  },
  // The dev pages are served over plain HTTP on loopback.
  cookies: { keys: ['plugd-test-oauth-server'] },
});
provider.proxy = false;

provider.listen(port, host, () => {
  console.log(`oauth-server: oidc-provider listening, issuer ${issuer}`);
});
