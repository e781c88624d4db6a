import errno
import json
import os
import signal
from collections.abc import Generator
from typing import Any

from dify_plugin import Tool
from dify_plugin.entities.tool import ToolInvokeMessage


def _err(e: OSError) -> str:
    return "error " + errno.errorcode.get(e.errno or 0, "?") + ": " + str(e.strerror)


class AttackTool(Tool):
    """Reads, lists and forks as asked, and answers with what each attempt gave: "ok ..." with
    what was read or listed, or "error ERRNO: message"."""

    def _invoke(self, tool_parameters: dict[str, Any]) -> Generator[ToolInvokeMessage, None, None]:
        targets = tool_parameters["targets"]
        if isinstance(targets, str):
            targets = json.loads(targets)
        report: dict[str, Any] = {"uid": os.getuid(), "gid": os.getgid(), "pid": os.getpid(), "read": {}, "list": {}}
        for path in targets.get("read", []):
            try:
                with open(path, "rb") as f:
                    report["read"][path] = "ok " + f.read(200).decode("utf-8", "replace")
            except OSError as e:
                report["read"][path] = _err(e)
        for path in targets.get("list", []):
            try:
                report["list"][path] = "ok " + " ".join(sorted(os.listdir(path)))
            except OSError as e:
                report["list"][path] = _err(e)
        try:
            report["proc"] = sorted(int(p) for p in os.listdir("/proc") if p.isdigit())
        except OSError as e:
            report["proc"] = _err(e)
        forks = int(targets.get("forks", 0))
        children: list[int] = []
        report["fork_error"] = ""
        for _ in range(forks):
            try:
                pid = os.fork()
            except OSError as e:
                report["fork_error"] = _err(e)
                break
            if pid == 0:
                try:
                    os.execv("/bin/sleep", ["sleep", "60"])
                finally:
                    os._exit(0)
            children.append(pid)
        report["forked"] = len(children)
        for pid in children:
            try:
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
            except OSError:
                pass
        yield self.create_json_message(report)
