import os
import sys

from dify_plugin import DifyPluginEnv, Plugin

# The crash-loop test makes the plugin exit at start while this file exists.
if os.path.exists(os.path.join(os.environ.get("HOME", "/nonexistent"), "crash")):
    sys.stderr.write("e2ehostile: $HOME/crash exists, exiting\n")
    sys.exit(3)

plugin = Plugin(DifyPluginEnv(MAX_REQUEST_TIMEOUT=120))

if __name__ == "__main__":
    plugin.run()
