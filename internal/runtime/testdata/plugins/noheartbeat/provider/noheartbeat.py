from dify_plugin import ToolProvider


class NoheartbeatProvider(ToolProvider):
    def _validate_credentials(self, credentials: dict) -> None:
        pass
