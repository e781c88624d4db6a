from dify_plugin import ToolProvider


class BiglineProvider(ToolProvider):
    def _validate_credentials(self, credentials: dict) -> None:
        pass
