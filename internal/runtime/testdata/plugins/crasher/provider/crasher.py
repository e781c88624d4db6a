from dify_plugin import ToolProvider


class CrasherProvider(ToolProvider):
    def _validate_credentials(self, credentials: dict) -> None:
        pass
