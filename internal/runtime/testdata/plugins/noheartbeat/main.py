from dify_plugin import DifyPluginEnv, Plugin
from dify_plugin.core.server.io_server import IOServer

# A plugin that loads and reads requests but never says it is alive: the heartbeat loop is
# replaced by one that returns at once, as if its thread had died.
IOServer._heartbeat = lambda self: None

plugin = Plugin(DifyPluginEnv())

if __name__ == "__main__":
    plugin.run()
