from dify_plugin import ToolProvider


class RaiserProvider(ToolProvider):
    def _validate_credentials(self, credentials: dict) -> None:
        pass
