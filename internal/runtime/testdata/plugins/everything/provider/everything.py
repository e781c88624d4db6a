from dify_plugin import ToolProvider


class EverythingProvider(ToolProvider):
    def _validate_credentials(self, credentials: dict) -> None:
        pass
