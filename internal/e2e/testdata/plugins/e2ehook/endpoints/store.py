import json
from collections.abc import Mapping

from werkzeug import Request, Response

from dify_plugin import Endpoint

KEY = "last-body"


class StoreEndpoint(Endpoint):
    """Stores the body, reads it back, uploads a file derived from it and reports it all. A
    failed storage write answers 507 with the error the daemon gave the plugin, so the tests
    can read what a plugin over its quota is told."""

    def _invoke(self, r: Request, values: Mapping, settings: Mapping) -> Response:
        body = r.get_data()
        try:
            self.session.storage.set(KEY, body)
        except Exception as e:
            return _json(507, {"storage_error": str(e)})
        stored = self.session.storage.get(KEY).decode("utf-8", "replace")
        uploaded = self.session.file.upload(
            filename="e2ehook.txt",
            content=b"uploaded by e2ehook: " + body,
            mimetype="text/plain",
        )
        return _json(
            200,
            {
                "stored": stored,
                "upload": {
                    "id": uploaded.id,
                    "name": uploaded.name,
                    "size": uploaded.size,
                    "mime_type": uploaded.mime_type,
                    "preview_url": uploaded.preview_url,
                },
                "api_key": settings.get("api_key"),
            },
        )


def _json(status: int, obj: dict) -> Response:
    return Response(json.dumps(obj), status=status, content_type="application/json")
