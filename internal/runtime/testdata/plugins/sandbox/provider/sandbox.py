from dify_plugin import ToolProvider


class SandboxProvider(ToolProvider):
    def _validate_credentials(self, credentials: dict) -> None:
        pass
