"""Print the registration messages the dify-plugin SDK sends a daemon under remote debugging.

Usage: python registration_dump.py < plugins.json

stdin is a JSON list of {"dir": <plugin folder>, "classes": <bool>}. For each plugin, one line
goes to stdout: {"dir": ..., "messages": <text>, "error": <traceback or null>}, where messages
is exactly what the SDK would write to the socket after the handshake: one JSON message per
line, each followed by a blank line, the last one being {"type":"end","data":{}}.

The SDK builds these messages in Plugin._initialize_tcp_stream from the PluginRegistration it
made at start-up (manifest.yaml, the provider files, the Python classes, _assets/). This script
makes that same PluginRegistration in the plugin folder and calls that same method with a
stand-in for the TCP stream.

"classes": false skips importing the plugin's classes, for folders whose Python files are
placeholders. The classes change one thing in the messages: a tool whose class overrides
_get_runtime_parameters is sent with has_runtime_parameters true.

Importing the SDK takes about two seconds, so one process serves many plugins; the modules of
each plugin are forgotten before the next one is loaded, since plugins reuse module names
(provider.x, tools.x). Anything the plugins print goes to stderr.
"""

import importlib
import json
import logging
import os
import sys
import traceback


class Capture:
    """Stands in for TCPReaderWriter: _initialize_tcp_stream only calls write."""

    def __init__(self):
        self.parts = []

    def write(self, data):
        self.parts.append(data)


def forget_modules(folder):
    """Drop the modules imported from folder, so the next plugin's modules of the same name load."""
    def inside(mod):
        try:
            # A namespace package's __path__ recomputes itself from its parent's.
            paths = [getattr(mod, "__file__", None) or ""] + [str(p) for p in getattr(mod, "__path__", None) or []]
        except Exception:
            return False
        return any(p == folder or p.startswith(folder + os.sep) for p in paths)

    for name in [name for name, mod in list(sys.modules.items()) if inside(mod)]:
        del sys.modules[name]
    importlib.invalidate_caches()


def main():
    plugins = json.load(sys.stdin)
    out = sys.stdout
    sys.stdout = sys.stderr
    logging.disable(logging.CRITICAL)

    from dify_plugin.config.config import DifyPluginEnv
    from dify_plugin.core.plugin_registration import PluginRegistration
    from dify_plugin.plugin import Plugin

    resolve_classes = PluginRegistration._resolve_plugin_cls
    for spec in plugins:
        folder = os.path.abspath(spec["dir"])
        result = {"dir": spec["dir"], "messages": None, "error": None}
        # The SDK resolves provider files, sources and _assets/ relative to the working
        # folder and imports the plugin's modules from it, as `python -m main` run there would.
        os.chdir(folder)
        sys.path.insert(0, folder)
        PluginRegistration._resolve_plugin_cls = resolve_classes if spec["classes"] else (lambda self: None)
        try:
            plugin = Plugin.__new__(Plugin)  # no streams, no executor: only what registration needs
            plugin.registration = PluginRegistration(DifyPluginEnv())
            stream = Capture()
            Plugin._initialize_tcp_stream(plugin, stream)
            result["messages"] = "".join(stream.parts)
        except Exception:
            result["error"] = traceback.format_exc()
        finally:
            sys.path.remove(folder)
            forget_modules(folder)
        out.write(json.dumps(result) + "\n")
    out.flush()
    # Skip interpreter shutdown: gevent, which the SDK imports, complains during it.
    os._exit(0)


if __name__ == "__main__":
    main()
