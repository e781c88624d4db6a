import json
import urllib.error
import urllib.request
from collections.abc import Generator
from typing import Any

from dify_plugin import Tool
from dify_plugin.entities.tool import ToolInvokeMessage


class WhoamiTool(Tool):
    def _invoke(self, tool_parameters: dict[str, Any]) -> Generator[ToolInvokeMessage, None, None]:
        creds = self.runtime.credentials
        req = urllib.request.Request(
            creds["userinfo_endpoint"], headers={"Authorization": "Bearer " + creds["access_token"]}
        )
        try:
            with urllib.request.urlopen(req, timeout=30) as resp:
                user = json.loads(resp.read())
        except urllib.error.HTTPError as e:
            raise ValueError(f"userinfo answered {e.code}") from None
        yield self.create_json_message({"user": user, "credential_type": getattr(self.runtime.credential_type, "value", self.runtime.credential_type)})
