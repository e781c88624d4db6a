from dify_plugin import ToolProvider


class CrashloopProvider(ToolProvider):
    def _validate_credentials(self, credentials: dict) -> None:
        pass
