import json
from collections.abc import Mapping

from werkzeug import Request, Response

from dify_plugin import Endpoint


class KVEndpoint(Endpoint):
    """POST stores the body under the key; both methods answer with the stored value and the
    settings the daemon passed (the secret decrypted), so a test sees both."""

    def _invoke(self, r: Request, values: Mapping, settings: Mapping) -> Response:
        key = values["key"]
        if r.method == "POST":
            self.session.storage.set(key, r.get_data())
        exists = self.session.storage.exist(key)
        stored = self.session.storage.get(key).decode("utf-8", "replace") if exists else None
        body = {
            "key": key,
            "value": stored,
            "api_key": settings.get("api_key"),
            "greeting": settings.get("greeting"),
        }
        return Response(json.dumps(body, sort_keys=True), status=200, content_type="application/json")
