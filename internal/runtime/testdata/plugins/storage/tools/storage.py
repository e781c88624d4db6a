from collections.abc import Generator
from typing import Any

from dify_plugin import Tool
from dify_plugin.entities.tool import ToolInvokeMessage


class StorageTool(Tool):
    def _invoke(self, tool_parameters: dict[str, Any]) -> Generator[ToolInvokeMessage, None, None]:
        op = tool_parameters.get("op") or "roundtrip"
        key = tool_parameters.get("key") or "k"
        value = tool_parameters.get("value") or ""
        storage = self.session.storage
        if op == "roundtrip":
            storage.set(key, value.encode())
            got = storage.get(key).decode()
            existed = storage.exist(key)
            storage.delete(key)
            yield self.create_json_message({"got": got, "existed": existed, "after_delete": storage.exist(key)})
        elif op == "set":
            storage.set(key, value.encode())
            yield self.create_text_message("ok")
        elif op == "get":
            yield self.create_text_message(storage.get(key).decode())
        elif op == "summary":
            # Any backwards call but storage needs Dify; without it this raises.
            yield self.create_text_message(self.session.model.summary.invoke(text=value, instruction="shorter", min_summarize_length=0))
        else:
            raise ValueError(f"unknown op {op}")
