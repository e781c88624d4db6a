from dify_plugin import ToolProvider


class StubbornProvider(ToolProvider):
    def _validate_credentials(self, credentials: dict) -> None:
        pass
