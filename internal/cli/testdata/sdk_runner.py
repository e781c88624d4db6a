"""Drives `plugd plugin run` with the dify-plugin SDK's own integration test runner.

The SDK finds the CLI through DIFY_CLI_PATH, checks `version`, packages a folder with
`plugin package -o`, runs `plugin run PKG --response-format json` and talks to it on
stdin/stdout. Usage: python sdk_runner.py PLUGIN_DIR. Prints one JSON line with the results.
"""

import json
import os
import sys
import traceback

from dify_plugin.config.integration_config import IntegrationConfig
from dify_plugin.core.entities.plugin.request import PluginInvokeType, ToolActions, ToolInvokeRequest
from dify_plugin.entities.tool import ToolInvokeMessage
from dify_plugin.integration.run import PluginRunner


def invoke(runner, params):
    return list(
        runner.invoke(
            PluginInvokeType.Tool,
            ToolActions.InvokeTool,
            payload=ToolInvokeRequest(
                user_id="sdk-runner",
                provider="echo",
                tool="echo",
                credentials={},
                tool_parameters=params,
            ),
            response_type=ToolInvokeMessage,
        )
    )


def main():
    out = {}
    with PluginRunner(config=IntegrationConfig(), plugin_package_path=sys.argv[1]) as runner:
        text = invoke(runner, {"text": "hello from the SDK runner"})
        out["text"] = [m.message.text for m in text if m.type == ToolInvokeMessage.MessageType.TEXT]
        every = invoke(runner, {"text": "x", "mode": "all"})
        out["types"] = [str(m.type.value) for m in every]
        try:
            invoke(runner, {"text": "x", "mode": "error"})
            out["error"] = None
        except ValueError as e:
            out["error"] = str(e)
    print(json.dumps(out))


if __name__ == "__main__":
    try:
        main()
    except BaseException:
        # The runner's reader thread is not a daemon thread: after a failure (such as its 30 s
        # ready timeout) the interpreter would wait for it forever. Report and leave at once.
        traceback.print_exc()
        sys.stdout.flush()
        os._exit(1)
