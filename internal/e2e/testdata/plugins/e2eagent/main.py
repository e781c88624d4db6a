from dify_plugin import DifyPluginEnv, Plugin

# plugd's end-to-end tests run this plugin under `plugd serve` and `plugd plugin invoke`.
plugin = Plugin(DifyPluginEnv(MAX_REQUEST_TIMEOUT=120))

if __name__ == "__main__":
    plugin.run()
