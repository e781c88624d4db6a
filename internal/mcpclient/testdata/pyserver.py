"""A stdio MCP server on the official Python SDK (PyPI: mcp) for plugd's client tests.

Tools: add (structured result), grow (registers a tool and sends tools/list_changed),
crash (the process exits mid-call), hang (never answers), env (what it was given), noise
(writes to stderr).
"""
import asyncio
import os
import sys

from mcp.server.mcpserver import Context, MCPServer

server = MCPServer("plugd-test-py")


@server.tool()
def add(a: int, b: int) -> int:
    """Adds two numbers."""
    return a + b


@server.tool()
async def grow(name: str, ctx: Context) -> str:
    """Adds a tool called name and tells the client the tool list changed."""

    def added(text: str) -> str:
        return "added tool says " + text

    server.add_tool(added, name=name, description="added at run time")
    # Both protocol eras: a 2025 client gets the notification on the session, a 2026-07-28
    # one through its subscriptions/listen stream.
    await ctx.session.send_tool_list_changed()
    try:
        await ctx.notify_tools_changed()
    except Exception:
        pass
    return "added " + name


@server.tool()
def crash() -> str:
    """Exits the process in the middle of the call."""
    print("crashing on purpose", file=sys.stderr, flush=True)
    os._exit(3)


@server.tool()
async def hang() -> str:
    """Never answers."""
    await asyncio.sleep(3600)
    return "late"


@server.tool()
def env(name: str) -> str:
    """The value of an environment variable, or <unset>."""
    return os.environ.get(name, "<unset>")


@server.tool()
def read(path: str) -> str:
    """The text of a file, or the error reading it."""
    try:
        with open(path) as f:
            return f.read()
    except OSError as e:
        return f"{type(e).__name__}: {e}"


@server.tool()
def whoami() -> dict:
    """The process's pid, parent pid and uid."""
    return {"pid": os.getpid(), "ppid": os.getppid(), "uid": os.getuid()}


@server.tool()
def noise(kib: int) -> str:
    """Writes kib KiB to stderr."""
    line = "x" * 1023 + "\n"
    for _ in range(kib):
        sys.stderr.write(line)
    sys.stderr.flush()
    return "ok"


@server.tool()
def eat(mib: int) -> str:
    """Allocates mib MiB and frees it."""
    try:
        block = bytearray(mib << 20)
    except MemoryError:
        return f"MemoryError allocating {mib} MiB"
    del block
    return f"ate {mib} MiB"


async def main():
    # As MCPServer.run() does for stdio, but announcing tools.listChanged, which its default
    # options leave off although the server does send the notification.
    from mcp.server.lowlevel.server import NotificationOptions
    from mcp.server.stdio import stdio_server

    low = server._lowlevel_server
    async with stdio_server() as (read_stream, write_stream):
        await low.run(read_stream, write_stream, low.create_initialization_options(NotificationOptions(tools_changed=True)))


if __name__ == "__main__":
    print("pyserver starting", file=sys.stderr, flush=True)
    asyncio.run(main())
