import os
import sys
from collections.abc import Generator
from typing import Any

from dify_plugin import Tool
from dify_plugin.entities.tool import ToolInvokeMessage


class CrashTool(Tool):
    def _invoke(self, tool_parameters: dict[str, Any]) -> Generator[ToolInvokeMessage, None, None]:
        yield self.create_text_message("about to crash")
        # The SDK writes each message before asking the generator for the next, so the text is
        # out; exit without unwinding, as a segfaulting extension or an OOM kill would.
        print("crasher: exiting on purpose", file=sys.stderr, flush=True)
        sys.stdout.flush()
        os._exit(3)
