import json
from collections.abc import Generator
from typing import Any

from dify_plugin.entities.agent import AgentInvokeMessage
from dify_plugin.entities.model.llm import LLMModelConfig
from dify_plugin.entities.model.message import UserPromptMessage
from dify_plugin.entities.tool import ToolInvokeMessage, ToolProviderType
from dify_plugin.interfaces.agent import AgentStrategy

# The builtin tool the strategy calls; the tests' fake Dify answers any name.
TOOL_PROVIDER = "e2e/faketools/faketools"
TOOL_NAME = "lookup"


class ProbeStrategy(AgentStrategy):
    """Exercises the daemon's backwards invocation: `action` picks a streamed LLM call, a
    builtin tool call or both, and each answer comes back as one text message, so the tests
    can see what the plugin received through the daemon."""

    def _invoke(self, parameters: dict[str, Any]) -> Generator[AgentInvokeMessage, None, None]:
        query = str(parameters.get("query") or "")
        action = str(parameters.get("action") or "both")
        if action not in ("llm", "tool", "both"):
            raise ValueError(f"unknown action {action!r}: want llm, tool or both")
        if action in ("llm", "both"):
            yield from self._ask_llm(parameters.get("model") or {}, query)
        if action in ("tool", "both"):
            yield from self._run_tool(query)

    def _ask_llm(self, model: dict, query: str) -> Generator[AgentInvokeMessage, None, None]:
        config = LLMModelConfig(
            provider=model.get("provider") or "e2e/fakellm/fakellm",
            model=model.get("model") or "fake-model",
            mode=model.get("mode") or "chat",
            completion_params=model.get("completion_params") or {},
        )
        answer, chunks, tokens = "", 0, None
        for chunk in self.session.model.llm.invoke(
            model_config=config,
            prompt_messages=[UserPromptMessage(content=query)],
            stream=True,
        ):
            chunks += 1
            if isinstance(chunk.delta.message.content, str):
                answer += chunk.delta.message.content
            if chunk.delta.usage is not None:
                tokens = chunk.delta.usage.total_tokens
        yield self.create_text_message(f"llm said: {answer}\n")
        yield self.create_json_message({"llm_chunks": chunks, "llm_total_tokens": tokens})

    def _run_tool(self, query: str) -> Generator[AgentInvokeMessage, None, None]:
        outputs = []
        for message in self.session.tool.invoke(
            provider_type=ToolProviderType.BUILT_IN,
            provider=TOOL_PROVIDER,
            tool_name=TOOL_NAME,
            parameters={"query": query},
        ):
            if isinstance(message.message, ToolInvokeMessage.TextMessage):
                outputs.append(message.message.text)
            elif isinstance(message.message, ToolInvokeMessage.JsonMessage):
                outputs.append(json.dumps(message.message.json_object, sort_keys=True))
        yield self.create_text_message("tool said: " + " | ".join(outputs) + "\n")
