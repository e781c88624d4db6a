from collections.abc import Mapping

from werkzeug import Request, Response

from dify_plugin import Endpoint


class EchoEndpoint(Endpoint):
    """Answers with the request body (the query string for a request without one) and the
    header X-E2E: yes, so the tests can tell the plugin's answer from the daemon's."""

    def _invoke(self, r: Request, values: Mapping, settings: Mapping) -> Response:
        body = r.get_data() or r.query_string
        return Response(body, status=200, headers={"X-E2E": "yes"}, content_type="application/octet-stream")
