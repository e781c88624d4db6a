from collections.abc import Generator
from typing import Any

from dify_plugin import Tool
from dify_plugin.entities.tool import ToolInvokeMessage


class AllocateTool(Tool):
    def _invoke(self, tool_parameters: dict[str, Any]) -> Generator[ToolInvokeMessage, None, None]:
        size = int(tool_parameters.get("mib") or 1) << 20
        block = bytearray(size)
        block[::4096] = b"\x01" * len(range(0, size, 4096))  # touch every page: resident, not just reserved
        yield self.create_text_message(f"allocated {len(block)} bytes")
