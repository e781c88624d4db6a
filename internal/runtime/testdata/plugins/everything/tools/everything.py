from collections.abc import Generator
from typing import Any

from dify_plugin import Tool
from dify_plugin.entities.tool import ToolInvokeMessage

# 20 MiB of a pattern the test can rebuild: far more than one 8 KiB chunk, so the SDK splits it
# into 2560 blob_chunk messages and a terminator.
BLOB = bytes(range(256)) * (20 * 1024 * 1024 // 256)


class EverythingTool(Tool):
    def _invoke(self, tool_parameters: dict[str, Any]) -> Generator[ToolInvokeMessage, None, None]:
        yield self.create_text_message("hello")
        yield self.create_json_message({"a": 1, "b": "é", "list": [1, 2, 3]})
        yield self.create_link_message("https://example.com/")
        yield self.create_image_message("https://example.com/x.png")
        yield self.create_variable_message("v", {"k": 1})
        yield self.create_stream_variable_message("sv", "chunk")
        log = self.create_log_message("step", {"x": 1}, status=ToolInvokeMessage.LogMessage.LogStatus.START)
        yield log
        yield self.finish_log_message(log, data={"x": 2})
        yield self.create_blob_message(BLOB, meta={"mime_type": "application/octet-stream", "filename": "big.bin"})
        yield self.create_text_message("bye")
