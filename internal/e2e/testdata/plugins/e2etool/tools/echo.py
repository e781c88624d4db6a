import time
from collections.abc import Generator
from typing import Any

from dify_plugin import Tool
from dify_plugin.entities.tool import ToolInvokeMessage


class EchoTool(Tool):
    """Each mode exercises one path of the daemon: plain text, a JSON message, a long call
    (to kill the daemon under), a plugin error, a backwards call to plugin storage, and one
    outsized message (big)."""

    def _invoke(self, tool_parameters: dict[str, Any]) -> Generator[ToolInvokeMessage, None, None]:
        text = str(tool_parameters.get("text") or "")
        mode = str(tool_parameters.get("mode") or "text")
        if mode == "text":
            yield self.create_text_message(text)
        elif mode == "json":
            yield self.create_json_message({"text": text, "length": len(text)})
        elif mode == "sleep":
            time.sleep(float(text))
            yield self.create_text_message("slept " + text)
        elif mode == "big":
            # One message of int(text) bytes: the daemon's memory bounds are measured with it.
            yield self.create_text_message("x" * int(text))
        elif mode == "error":
            raise ValueError("boom")
        elif mode == "storage":
            self.session.storage.set("e2e-key", text.encode("utf-8"))
            yield self.create_text_message(self.session.storage.get("e2e-key").decode("utf-8"))
        else:
            raise ValueError("unknown mode " + repr(mode))
