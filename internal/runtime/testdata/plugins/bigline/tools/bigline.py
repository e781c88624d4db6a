from collections.abc import Generator
from typing import Any

from dify_plugin import Tool
from dify_plugin.entities.tool import ToolInvokeMessage

# One text message of exactly 50 MiB: the SDK sends it as a single line, ten times the
# reference daemon's line limit.
TEXT = "0123456789abcdef" * (50 * 1024 * 1024 // 16)


class BiglineTool(Tool):
    def _invoke(self, tool_parameters: dict[str, Any]) -> Generator[ToolInvokeMessage, None, None]:
        yield self.create_text_message(TEXT)
