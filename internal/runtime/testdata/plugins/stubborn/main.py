import signal

from dify_plugin import DifyPluginEnv, Plugin

# Ignores SIGTERM, so only SIGKILL after the grace period stops it.
signal.signal(signal.SIGTERM, signal.SIG_IGN)

plugin = Plugin(DifyPluginEnv())

if __name__ == "__main__":
    plugin.run()
