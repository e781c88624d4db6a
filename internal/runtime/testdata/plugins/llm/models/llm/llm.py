from collections.abc import Generator

from dify_plugin import LargeLanguageModel
from dify_plugin.entities.model.llm import LLMResult, LLMResultChunk, LLMResultChunkDelta
from dify_plugin.entities.model.message import AssistantPromptMessage

ANSWER = "the quick brown fox jumps over the lazy dog"


class WordsLLM(LargeLanguageModel):
    """Answers every prompt with ANSWER, one word per chunk; the last chunk carries the usage."""

    def _invoke(self, model, credentials, prompt_messages, model_parameters, tools=None, stop=None, stream=True, user=None):
        words = ANSWER.split(" ")
        usage = self._calc_response_usage(model, credentials, len(prompt_messages), len(words))
        if not stream:
            return LLMResult(model=model, message=AssistantPromptMessage(content=ANSWER), usage=usage)

        def chunks() -> Generator[LLMResultChunk, None, None]:
            for i, word in enumerate(words):
                last = i == len(words) - 1
                yield LLMResultChunk(
                    model=model,
                    delta=LLMResultChunkDelta(
                        index=i,
                        message=AssistantPromptMessage(content=word if i == 0 else " " + word),
                        usage=usage if last else None,
                        finish_reason="stop" if last else None,
                    ),
                )

        return chunks()

    def get_num_tokens(self, model, credentials, prompt_messages, tools=None):
        return len(prompt_messages)

    def validate_credentials(self, model, credentials):
        pass

    @property
    def _invoke_error_mapping(self):
        return {}
