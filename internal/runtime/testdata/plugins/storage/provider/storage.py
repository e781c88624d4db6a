from dify_plugin import ToolProvider


class StorageProvider(ToolProvider):
    def _validate_credentials(self, credentials: dict) -> None:
        pass
