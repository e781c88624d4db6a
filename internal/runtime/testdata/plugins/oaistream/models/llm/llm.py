from dify_plugin.interfaces.model.openai_compatible.llm import OAICompatLargeLanguageModel


class OAIStreamLLM(OAICompatLargeLanguageModel):
    """The SDK's OpenAI-compatible LLM as it is: HTTP streaming with requests, one LLM chunk
    per SSE data line."""
