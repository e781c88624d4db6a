"""Drives an MCP server with the official Python SDK's client (the `mcp` package from PyPI).

usage: mcp_client.py streamable|sse URL TOKEN TOOL ARGUMENTS_JSON

Lists the tools, calls TOOL with the arguments and prints one JSON object:
{"tools": [names...], "result": CallToolResult as JSON}. A refused connection or call
raises, so the process exits non-zero with the SDK's own error on stderr.
"""

import json
import sys

import anyio
from mcp import ClientSession
from mcp.client.sse import sse_client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client


async def main(transport: str, url: str, token: str, tool: str, arguments: str) -> None:
    headers = {"Authorization": f"Bearer {token}"}
    if transport == "sse":
        connection = sse_client(url, headers=headers)
    else:
        connection = streamable_http_client(url, http_client=create_mcp_http_client(headers=headers))
    async with connection as streams:
        read, write = streams[0], streams[1]
        async with ClientSession(read, write) as session:
            await session.initialize()
            listed = await session.list_tools()
            result = await session.call_tool(tool, json.loads(arguments))
            print(json.dumps({
                "tools": [t.name for t in listed.tools],
                "result": result.model_dump(mode="json", by_alias=True, exclude_none=True),
            }))


if __name__ == "__main__":
    anyio.run(main, *sys.argv[1:6])
