from collections.abc import Generator
from typing import Any

from dify_plugin import Tool
from dify_plugin.entities.tool import ToolInvokeMessage


class KVTool(Tool):
    """Sets the key when a value is given, then answers with whether it exists and its value."""

    def _invoke(self, tool_parameters: dict[str, Any]) -> Generator[ToolInvokeMessage, None, None]:
        key = str(tool_parameters.get("key") or "")
        value = tool_parameters.get("value")
        if value:
            self.session.storage.set(key, str(value).encode("utf-8"))
        exists = self.session.storage.exist(key)
        stored = self.session.storage.get(key).decode("utf-8") if exists else None
        yield self.create_json_message({"key": key, "exists": bool(exists), "value": stored})
