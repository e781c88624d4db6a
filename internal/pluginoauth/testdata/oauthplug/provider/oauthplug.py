"""The OAuth 2 authorization-code flow of a generic provider, as a tool plugin writes it: the
endpoints come from the client settings, so a test can point them at its own server."""

import base64
import hashlib
import hmac
import json
import secrets
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping
from typing import Any

from werkzeug import Request

from dify_plugin import ToolProvider
from dify_plugin.entities.oauth import ToolOAuthCredentials
from dify_plugin.errors.tool import ToolProviderOAuthError


def _b64(b: bytes) -> str:
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


def _code_verifier(system_credentials: Mapping[str, Any], state: str) -> str:
    """PKCE without keeping anything: the plugin gets no storage between the authorization URL
    and the callback, but the callback brings the state back, so the verifier is derived from
    it with a key the authorization server never sees."""
    key = str(system_credentials["client_secret"]).encode()
    return _b64(hmac.new(key, b"pkce:" + state.encode(), hashlib.sha256).digest())


def _token_request(system_credentials: Mapping[str, Any], form: dict[str, str]) -> dict[str, Any]:
    headers = {"Accept": "application/json", "Content-Type": "application/x-www-form-urlencoded"}
    client_id, secret = str(system_credentials["client_id"]), str(system_credentials["client_secret"])
    if system_credentials.get("token_endpoint_auth_method") == "client_secret_basic":
        pair = urllib.parse.quote(client_id, safe="") + ":" + urllib.parse.quote(secret, safe="")
        headers["Authorization"] = "Basic " + base64.b64encode(pair.encode()).decode()
    else:
        form = {**form, "client_id": client_id, "client_secret": secret}
    req = urllib.request.Request(
        system_credentials["token_endpoint"],
        data=urllib.parse.urlencode(form).encode(),
        headers=headers,
        method="POST",
    )
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return json.loads(resp.read())
    except urllib.error.HTTPError as e:
        raise ToolProviderOAuthError(f"token endpoint answered {e.code}: {e.read().decode(errors='replace')}") from None


def _credentials(
    system_credentials: Mapping[str, Any], token: dict[str, Any], previous: Mapping[str, Any], **extra: Any
) -> ToolOAuthCredentials:
    if not token.get("access_token"):
        raise ToolProviderOAuthError(f"no access_token in {token}")
    creds = {
        "access_token": token["access_token"],
        # A server may keep the refresh token across refreshes and not send it again.
        "refresh_token": token.get("refresh_token") or previous.get("refresh_token", ""),
        "userinfo_endpoint": system_credentials["userinfo_endpoint"],
        **extra,
    }
    expires_in = token.get("expires_in")
    expires_at = int(time.time()) + int(expires_in) if expires_in else -1
    return ToolOAuthCredentials(credentials=creds, expires_at=expires_at)


class OauthplugProvider(ToolProvider):
    def _validate_credentials(self, credentials: dict) -> None:
        pass

    def _oauth_get_authorization_url(self, redirect_uri: str, system_credentials: Mapping[str, Any]) -> str:
        params = {
            "response_type": "code",
            "client_id": system_credentials["client_id"],
            "redirect_uri": redirect_uri,
            "scope": system_credentials.get("scope") or "openid",
            "state": secrets.token_urlsafe(16),
        }
        if system_credentials.get("pkce"):
            verifier = _code_verifier(system_credentials, params["state"])
            params["code_challenge"] = _b64(hashlib.sha256(verifier.encode()).digest())
            params["code_challenge_method"] = "S256"
        return system_credentials["authorization_endpoint"] + "?" + urllib.parse.urlencode(params)

    def _oauth_get_credentials(
        self, redirect_uri: str, system_credentials: Mapping[str, Any], request: Request
    ) -> ToolOAuthCredentials:
        if request.args.get("error"):
            raise ToolProviderOAuthError(f"authorization failed: {request.args['error']}")
        code = request.args.get("code") or request.form.get("code")
        if not code:
            raise ToolProviderOAuthError("no code in the callback request")
        form = {"grant_type": "authorization_code", "code": code, "redirect_uri": redirect_uri}
        if system_credentials.get("pkce"):
            form["code_verifier"] = _code_verifier(system_credentials, request.args.get("state", ""))
        token = _token_request(system_credentials, form)
        # What the SDK decoded from the raw request, for the test to check the framing.
        callback = {
            "method": request.method,
            "path": request.path,
            "state": request.args.get("state", ""),
            "user_agent": request.headers.get("User-Agent", ""),
            "has_cookie": "Cookie" in request.headers,
        }
        return _credentials(system_credentials, token, {}, callback=callback)

    def _oauth_refresh_credentials(
        self, redirect_uri: str, system_credentials: Mapping[str, Any], credentials: Mapping[str, Any]
    ) -> ToolOAuthCredentials:
        if not credentials.get("refresh_token"):
            raise ToolProviderOAuthError("no refresh_token to refresh with")
        token = _token_request(
            system_credentials, {"grant_type": "refresh_token", "refresh_token": credentials["refresh_token"]}
        )
        return _credentials(system_credentials, token, credentials)
