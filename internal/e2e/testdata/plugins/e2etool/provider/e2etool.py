from typing import Any

from dify_plugin import ToolProvider
from dify_plugin.errors.tool import ToolProviderCredentialValidationError


class E2EToolProvider(ToolProvider):
    """Accepts every key but "bad", so the tests can see both answers."""

    def _validate_credentials(self, credentials: dict[str, Any]) -> None:
        if credentials.get("api_key") == "bad":
            raise ToolProviderCredentialValidationError("the key is bad")
