"""Checks a plugin folder made by `plugd plugin init` against the installed dify-plugin SDK.

It does what the SDK does when a plugin starts, minus all I/O: PluginRegistration reads
manifest.yaml and every declaration into the SDK's pydantic models and imports each class
named under extra.python. Then every loaded class must be a concrete subclass of the SDK base
it is registered for, and the category's code is called through the SDK's own PluginExecutor
with requests shaped like the daemon's, on a session whose backwards calls are faked.

    python sdkcheck.py <plugin dir> <category> <expected description>

Prints one JSON object {"ok": bool, "checks": [...], "error": str} and exits 0 when ok.
"""

import ast
import binascii
import hashlib
import hmac
import inspect
import json
import math
import os
import sys
import traceback
from pathlib import Path

checks: list[str] = []


def check(cond, what):
    if not cond:
        raise AssertionError(what)
    checks.append(what)


def raises(fn, exc, what):
    try:
        fn()
    except exc:
        checks.append(what)
        return
    except Exception as e:  # noqa: BLE001 - report what came instead
        raise AssertionError(f"{what}: got {type(e).__name__}: {e}") from e
    raise AssertionError(f"{what}: nothing was raised")


def concrete(cls, base, what):
    check(isinstance(cls, type) and issubclass(cls, base) and cls is not base, f"{what}: subclass of {base.__name__}")
    left = sorted(getattr(cls, "__abstractmethods__", ()))
    check(not inspect.isabstract(cls), f"{what}: no abstract methods left {left}")


def overrides(cls, base, name, what):
    check(getattr(cls, name) is not getattr(base, name), f"{what}: implements {name}")


def main() -> None:
    plugin_dir, category, description = sys.argv[1], sys.argv[2], sys.argv[3]
    os.chdir(plugin_dir)
    # `python -m main` puts the plugin folder first on sys.path; so does this.
    sys.path.insert(0, os.getcwd())

    # Every Python file must compile, referenced or not; main.py must start the SDK's Plugin.
    for py in sorted(Path(".").rglob("*.py")):
        compile(py.read_text(encoding="utf-8"), str(py), "exec")
    check(True, "every .py file compiles")
    tree = ast.parse(Path("main.py").read_text(encoding="utf-8"))
    names = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)}
    check({"Plugin", "DifyPluginEnv"} <= names, "main.py builds Plugin(DifyPluginEnv(...))")

    import dify_plugin  # noqa: F401 - applies the SDK's gevent patching, as in a real start
    from pydantic import RootModel

    from dify_plugin.config.config import DifyPluginEnv
    from dify_plugin.core.plugin_executor import PluginExecutor
    from dify_plugin.core.plugin_registration import PluginRegistration
    from dify_plugin.core.runtime import Session

    env = DifyPluginEnv()
    reg = PluginRegistration(env)
    check(True, "PluginRegistration loaded the manifest, the declarations and the classes")

    conf = reg.configuration
    # I18nObject keeps its locale keys in to_dict() on both lines (0.10 renamed the fields to en_us etc.).
    check(conf.description.to_dict()["en_US"] == description, "manifest description reads back exactly (PyYAML)")
    conf.model_dump_json()
    for declarations in (
        reg.tools_configuration,
        reg.models_configuration,
        reg.endpoints_configuration,
        reg.agent_strategies_configuration,
        reg.datasource_configuration,
        reg.triggers_configuration,
    ):
        RootModel[list](declarations).model_dump_json()
    check(True, "declarations serialize as sent at remote-debug registration")
    check(len(reg.files) >= 2, "assets loaded from _assets")

    executor = PluginExecutor(env, reg)
    session = Session.empty_session()
    CHECKS[category](conf.name, reg, executor, session)


def check_tool(name, reg, executor, session):
    from dify_plugin import Tool, ToolProvider
    from dify_plugin.core.entities.plugin.request import ToolInvokeRequest, ToolValidateCredentialsRequest
    from dify_plugin.entities.tool import ToolInvokeMessage
    from dify_plugin.errors.tool import ToolProviderCredentialValidationError

    check(list(reg.tools_mapping) == [name], "one tool provider named after the plugin")
    provider, provider_cls, tools = reg.tools_mapping[name]
    concrete(provider_cls, ToolProvider, "tool provider")
    overrides(provider_cls, ToolProvider, "_validate_credentials", "tool provider")
    check([c.name for c in provider.credentials_schema] == ["api_key"], "mapping-form credentials_for_provider read")
    check(not provider.credentials_schema[0].required, "api_key is optional")
    check(list(tools) == [name], "one tool named after the plugin")
    concrete(tools[name][1], Tool, "tool")

    def validate(creds):
        return executor.validate_tool_provider_credentials(
            session, ToolValidateCredentialsRequest(user_id="u", provider=name, credentials=creds)
        )

    check(validate({}) == {"result": True}, "validate_tool_credentials accepts no key")
    check(validate({"api_key": "k-1"}) == {"result": True}, "validate_tool_credentials accepts a key")
    raises(lambda: validate({"api_key": "a b"}), ToolProviderCredentialValidationError, "a key with spaces is refused")

    req = ToolInvokeRequest(
        user_id="u", provider=name, tool=name, credentials={}, tool_parameters={"query": "hello from plugd"}
    )
    msgs = list(executor.invoke_tool(session, req))
    for m in msgs:
        m.model_dump_json()
    check([m.type for m in msgs] == [ToolInvokeMessage.MessageType.TEXT, ToolInvokeMessage.MessageType.JSON], "tool yields text then json")
    check(msgs[0].message.text == "hello from plugd", "text message echoes the query")
    check(msgs[1].message.json_object == {"query": "hello from plugd", "length": 16, "words": 3}, "json message summarizes it")


def check_models(name, reg, executor, session, model_type):
    from dify_plugin import (
        LargeLanguageModel,
        ModelProvider,
        ModerationModel,
        RerankModel,
        Speech2TextModel,
        TextEmbeddingModel,
        TTSModel,
    )
    from dify_plugin.core.entities.plugin.request import (
        ModelGetAIModelSchemas,
        ModelValidateModelCredentialsRequest,
        ModelValidateProviderCredentialsRequest,
    )
    from dify_plugin.entities.model import ModelType
    from dify_plugin.errors.model import CredentialsValidateFailedError

    bases = {
        ModelType.LLM: LargeLanguageModel,
        ModelType.TEXT_EMBEDDING: TextEmbeddingModel,
        ModelType.RERANK: RerankModel,
        ModelType.TTS: TTSModel,
        ModelType.SPEECH2TEXT: Speech2TextModel,
        ModelType.MODERATION: ModerationModel,
    }
    mt = ModelType(model_type)
    check(list(reg.models_mapping) == [name], "one model provider named after the plugin")
    provider, instance, factory = reg.models_mapping[name]
    concrete(type(instance), ModelProvider, "model provider")
    check(list(provider.supported_model_types) == [mt], f"supports {model_type}")
    check(set(factory.models) == {mt}, f"one model class, registered for {model_type}")
    concrete(factory.models[mt], bases[mt], "model")
    check(len(provider.models) == 1 and provider.models[0].model_type == mt, "one predefined model loaded from the glob")
    model = provider.models[0].model
    position = getattr(provider.position, mt.value.replace("-", "_"))
    check(position == [model], "_position.yaml lists the model")

    def base(cls, **kw):
        return cls(user_id="u", provider=name, model_type=model_type, model=model, credentials={}, **kw)

    check(
        executor.validate_model_provider_credentials(
            session, ModelValidateProviderCredentialsRequest(user_id="u", provider=name, credentials={"api_key": "k"})
        )["result"],
        "validate_provider_credentials accepts a key",
    )
    raises(
        lambda: executor.validate_model_provider_credentials(
            session, ModelValidateProviderCredentialsRequest(user_id="u", provider=name, credentials={"api_key": "a b"})
        ),
        CredentialsValidateFailedError,
        "a key with spaces is refused",
    )
    check(executor.validate_model_credentials(session, base(ModelValidateModelCredentialsRequest))["result"], "validate_model_credentials")
    schema = executor.get_ai_model_schemas(session, base(ModelGetAIModelSchemas))["model_schema"]
    check(schema is not None and schema.model == model, "get_ai_model_schemas finds the model")
    MODEL_CHECKS[model_type](executor, session, base)


def check_llm(executor, session, base):
    from dify_plugin.core.entities.plugin.request import ModelGetLLMNumTokens, ModelInvokeLLMRequest

    prompt = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "hello from the plugd test"}]

    def run(stream, params):
        req = base(ModelInvokeLLMRequest, prompt_messages=prompt, model_parameters=params, stop=None, tools=None, stream=stream)
        chunks = list(executor.invoke_llm(session, req))
        for c in chunks:
            c.model_dump_json()
        return chunks

    chunks = run(True, {"temperature": 0.3})
    check(len(chunks) > 1, "streams several chunks")
    check("".join(c.delta.message.content for c in chunks) == "hello from the plugd test", "echoes the last user message")
    last = chunks[-1].delta
    check(last.finish_reason == "stop" and last.usage is not None and last.usage.completion_tokens == 5, "last chunk carries usage")
    chunks = run(False, {"max_tokens": 2})
    check(len(chunks) == 1 and chunks[0].delta.message.content == "hello from", "blocking call honours max_tokens")
    n = executor.get_llm_num_tokens(session, base(ModelGetLLMNumTokens, prompt_messages=prompt, tools=None))
    check(n == {"num_tokens": 7}, "get_llm_num_tokens")


def check_text_embedding(executor, session, base):
    from dify_plugin.core.entities.plugin.request import (
        ModelGetTextEmbeddingNumTokens,
        ModelInvokeTextEmbeddingRequest,
    )

    texts = ["the quick brown fox", "the quick brown fox", "lazy dog"]
    result = executor.invoke_text_embedding(session, base(ModelInvokeTextEmbeddingRequest, texts=texts, input_type="query"))
    result.model_dump_json()
    vecs = result.embeddings
    check(len(vecs) == 3 and all(len(v) == 256 for v in vecs), "one 256-dimension vector per text")
    check(vecs[0] == vecs[1] and vecs[0] != vecs[2], "equal texts, equal vectors")
    check(all(abs(math.sqrt(sum(x * x for x in v)) - 1) < 1e-9 for v in vecs), "vectors have length 1")
    check(result.usage.tokens == 10, "usage counts tokens")
    n = executor.get_text_embedding_num_tokens(session, base(ModelGetTextEmbeddingNumTokens, texts=texts))
    check(n == {"num_tokens": [4, 4, 2]}, "get_text_embedding_num_tokens")


def check_rerank(executor, session, base):
    from dify_plugin.core.entities.plugin.request import ModelInvokeRerankRequest

    docs = ["bananas are yellow", "apple pie recipe", "an apple a day"]
    result = executor.invoke_rerank(
        session, base(ModelInvokeRerankRequest, query="apple pie", docs=docs, score_threshold=None, top_n=2)
    )
    result.model_dump_json()
    check([d.index for d in result.docs] == [1, 2], "ranks by word overlap, top_n honoured")
    check(result.docs[0].score == 1.0 and result.docs[1].score == 0.5, "scores are the share of query words")
    result = executor.invoke_rerank(
        session, base(ModelInvokeRerankRequest, query="apple pie", docs=docs, score_threshold=0.6, top_n=None)
    )
    check([d.index for d in result.docs] == [1], "score_threshold honoured")


def check_tts(executor, session, base):
    from dify_plugin.core.entities.plugin.request import ModelGetTTSVoices, ModelInvokeTTSRequest

    items = list(
        executor.invoke_tts(session, base(ModelInvokeTTSRequest, content_text="hello plugd world", voice="high", tenant_id="t"))
    )
    check(len(items) > 1, "streams several audio chunks")
    audio = b"".join(binascii.unhexlify(i["result"]) for i in items)
    check(audio[:4] == b"RIFF" and audio[8:12] == b"WAVE", "audio is WAV")
    check(len(audio) == 44 + 3 * 1280 and int.from_bytes(audio[4:8], "little") == len(audio) - 8, "WAV sizes are consistent")
    voices = executor.get_tts_model_voices(session, base(ModelGetTTSVoices, language=None))["voices"]
    check([v["value"] for v in voices] == ["low", "high"], "get_tts_model_voices lists the voices")


def check_speech2text(executor, session, base):
    from dify_plugin.core.entities.plugin.request import ModelInvokeSpeech2TextRequest

    wav = b"RIFF" + (36).to_bytes(4, "little") + b"WAVE" + bytes(32)
    out = executor.invoke_speech_to_text(session, base(ModelInvokeSpeech2TextRequest, file=wav.hex()))
    check(out == {"result": f"[{len(wav)} bytes of WAV received]"}, "describes the audio it got")


def check_moderation(executor, session, base):
    from dify_plugin.core.entities.plugin.request import ModelInvokeModerationRequest

    def flagged(text, creds=None):
        req = base(ModelInvokeModerationRequest, text=text)
        if creds is not None:
            req.credentials = creds
        return executor.invoke_moderation(session, req)["result"]

    check(flagged("this is Forbidden!") is True, "flags the default blocked word")
    check(flagged("hello there") is False, "passes other text")
    check(flagged("green eggs", {"blocked_words": "spam, eggs"}) is True, "uses blocked_words from the credentials")


def check_extension(name, reg, executor, session):
    from dify_plugin import Endpoint
    from dify_plugin.core.entities.plugin.request import EndpointInvokeRequest

    rules = list(reg.endpoints.iter_rules())
    check(len(rules) == 1 and rules[0].rule == f"/{name}" and "GET" in rules[0].methods, f"endpoint GET /{name} registered")
    concrete(rules[0].endpoint, Endpoint, "endpoint")

    def call(path):
        raw = f"GET {path} HTTP/1.1\r\nHost: localhost\r\n\r\n".encode()
        items = list(executor.invoke_endpoint(session, EndpointInvokeRequest(settings={"greeting": "Hi"}, raw_http_request=raw.hex())))
        check(len(items) == 1, f"GET {path} answers in one piece")
        return items[0]

    res = call(f"/{name}?name=Ada")
    check(res["status"] == 200 and res["headers"].get("Content-Type", "").startswith("application/json"), "200 with JSON")
    check(json.loads(binascii.unhexlify(res["result"]))["message"] == "Hi, Ada!", "greets with the setting")
    check(call("/no-such-path")["status"] == 404, "other paths get 404")


def check_agent(name, reg, executor, session):
    from dify_plugin import AgentProvider, AgentStrategy
    from dify_plugin.core.entities.plugin.request import AgentInvokeRequest
    from dify_plugin.core.utils.class_loader import load_single_subclass_from_source
    from dify_plugin.entities.model.llm import LLMResultChunk, LLMResultChunkDelta
    from dify_plugin.entities.model.message import AssistantPromptMessage, ToolPromptMessage
    from dify_plugin.entities.tool import ToolInvokeMessage

    check(list(reg.agent_strategies_mapping) == [name], "one agent strategy provider")
    provider, strategies = reg.agent_strategies_mapping[name]
    check(list(strategies) == [name], "one strategy named after the plugin")
    concrete(strategies[name][1], AgentStrategy, "agent strategy")
    params = {p.name: p for p in strategies[name][0].parameters}
    check(params["model"].type.value == "model-selector" and params["model"].scope == "tool-call&llm", "model selector for tool-call&llm")
    check(params["tools"].type.value == "array[tools]" and params["query"].type.value == "string", "tools and query parameters")
    # The SDK does not load the provider class; load it the same way to prove it is sound.
    import yaml

    source = yaml.safe_load(Path(reg.configuration.plugins.agent_strategies[0]).read_text())["extra"]["python"]["source"]
    provider_cls = load_single_subclass_from_source(
        module_name=source[:-3].replace("/", "."), script_path=os.path.join(os.getcwd(), source), parent_type=AgentProvider
    )
    concrete(provider_cls, AgentProvider, "agent provider")

    calls = []

    class FakeLLM:
        """Stands in for Dify: first asks for the lookup tool, then answers with its result."""

        def invoke(self, model_config, prompt_messages, tools=None, stop=None, stream=True):
            calls.append((model_config, list(prompt_messages), tools))
            if len(calls) == 1:
                call = AssistantPromptMessage.ToolCall(
                    id="call-1",
                    type="function",
                    function=AssistantPromptMessage.ToolCall.ToolCallFunction(name="lookup", arguments='{"q": "meaning"}'),
                )
                yield LLMResultChunk(model="m", delta=LLMResultChunkDelta(index=0, message=AssistantPromptMessage(content="", tool_calls=[call])))
                return
            for i, piece in enumerate(["The answer", " is 42"]):
                yield LLMResultChunk(model="m", delta=LLMResultChunkDelta(index=i, message=AssistantPromptMessage(content=piece)))

    tool_calls = []

    class FakeTools:
        def invoke(self, provider_type, provider, tool_name, parameters, credential_id=None):
            tool_calls.append((provider_type.value, provider, tool_name, parameters))
            yield ToolInvokeMessage(type=ToolInvokeMessage.MessageType.TEXT, message=ToolInvokeMessage.TextMessage(text="42"))

    session.model.llm = FakeLLM()
    session.tool = FakeTools()
    tool = {
        "identity": {"author": "a", "name": "lookup", "label": {"en_US": "Lookup"}, "provider": "kb"},
        "parameters": [
            {
                "name": "q",
                "label": {"en_US": "Q"},
                "human_description": {"en_US": "What to look up"},
                "type": "string",
                "form": "llm",
                "llm_description": "What to look up",
                "required": True,
            }
        ],
        "description": {"human": {"en_US": "Looks things up"}, "llm": "Looks things up"},
        "provider_type": "builtin",
        "runtime_parameters": {"lang": "en"},
    }
    req = AgentInvokeRequest(
        user_id="u",
        agent_strategy_provider=name,
        agent_strategy=name,
        agent_strategy_params={
            "model": {"provider": "p", "model": "m", "model_type": "llm", "mode": "chat", "completion_params": {}, "history_prompt_messages": []},
            "tools": [tool],
            "instruction": "Answer briefly.",
            "query": "What is the meaning?",
            "maximum_iterations": 3,
        },
    )
    msgs = list(executor.invoke_agent_strategy(session, req))
    for m in msgs:
        m.model_dump_json()
    text = "".join(m.message.text for m in msgs if m.type == ToolInvokeMessage.MessageType.TEXT)
    check(text == "The answer is 42", "streams the final answer")
    check(len(calls) == 2 and calls[0][2] and calls[0][2][0].name == "lookup", "offers the tools to the model")
    check(tool_calls == [("builtin", "kb", "lookup", {"lang": "en", "q": "meaning"})], "runs the tool the model asked for")
    fed_back = [m for m in calls[1][1] if isinstance(m, ToolPromptMessage)]
    check(len(fed_back) == 1 and fed_back[0].content == "42" and fed_back[0].tool_call_id == "call-1", "feeds the tool result back")
    check(sum(1 for m in msgs if m.type == ToolInvokeMessage.MessageType.LOG) == 4, "logs each round start and finish")


def check_datasource(name, reg, executor, session):
    from dify_plugin.core.entities.plugin.request import DatasourceCrawlWebsiteRequest, DatasourceValidateCredentialsRequest
    from dify_plugin.errors.tool import DatasourceCredentialValidationError
    from dify_plugin.interfaces.datasource import DatasourceProvider
    from dify_plugin.interfaces.datasource.website import WebsiteCrawlDatasource

    check(list(reg.datasource_mapping) == [name], "one datasource provider")
    mapping = reg.datasource_mapping[name]
    check(mapping.configuration.provider_type.value == "website_crawl", "provider_type website_crawl")
    concrete(mapping.provider_cls, DatasourceProvider, "datasource provider")
    overrides(mapping.provider_cls, DatasourceProvider, "_validate_credentials", "datasource provider")
    check(list(mapping.website_crawl_datasource_mapping) == [name], "one website crawl datasource")
    concrete(mapping.website_crawl_datasource_mapping[name], WebsiteCrawlDatasource, "datasource")

    def validate(creds):
        return executor.validate_datasource_credentials(
            session, DatasourceValidateCredentialsRequest(user_id="u", provider=name, credentials=creds)
        )

    check(validate({"api_key": "k"}) == {"result": True}, "validate_datasource_credentials")
    raises(lambda: validate({"api_key": "a b"}), DatasourceCredentialValidationError, "a key with spaces is refused")
    req = DatasourceCrawlWebsiteRequest(
        user_id="u", provider=name, datasource=name, credentials={}, datasource_parameters={"url": "https://example.com", "limit": 5}
    )
    msgs = list(executor.datasource_crawl_website(session, req))
    for m in msgs:
        m.model_dump_json()
    check([m.result.status for m in msgs] == ["processing", "completed"], "reports progress, then the result")
    pages = msgs[-1].result.web_info_list
    check(len(pages) == 1 and pages[0].source_url == "https://example.com", "returns the page")


def check_trigger(name, reg, executor, session):
    from dify_plugin.core.entities.plugin.request import (
        TriggerDispatchEventRequest,
        TriggerInvokeEventRequest,
        TriggerRefreshRequest,
        TriggerSubscribeRequest,
        TriggerUnsubscribeRequest,
        TriggerValidateProviderCredentialsRequest,
    )
    from dify_plugin.errors.trigger import TriggerProviderCredentialValidationError, TriggerValidationError
    from dify_plugin.interfaces.trigger import Event, Trigger, TriggerSubscriptionConstructor

    factory = reg.trigger_factory
    conf = factory.get_configuration(name)
    check([s.name for s in conf.subscription_schema] == ["webhook_secret"], "subscription schema")
    check(
        conf.subscription_constructor is not None and [c.name for c in conf.subscription_constructor.credentials_schema] == ["api_key"],
        "subscription constructor with mapping-form credentials",
    )
    concrete(factory.get_provider_cls(name), Trigger, "trigger")
    concrete(factory.get_subscription_constructor_cls(name), TriggerSubscriptionConstructor, "subscription constructor")
    events = factory.iter_events(name)
    check(list(events) == ["payload_received"], "one event")
    concrete(events["payload_received"][1], Event, "event")

    def validate(creds):
        return executor.validate_trigger_provider_credentials(
            session, TriggerValidateProviderCredentialsRequest(provider=name, credentials=creds, user_id="u")
        )

    check(validate({"api_key": "k"}) == {"result": True}, "validate_trigger_credentials")
    raises(lambda: validate({"api_key": "a b"}), TriggerProviderCredentialValidationError, "a key with spaces is refused")

    sub = executor.subscribe_trigger(
        session,
        TriggerSubscribeRequest(
            provider=name, credentials={}, credential_type="api-key", endpoint="https://dify.example/hook/1", parameters={}, user_id="u"
        ),
    ).subscription
    secret = sub["properties"].get("webhook_secret")
    check(isinstance(secret, str) and len(secret) == 32 and sub["endpoint"] == "https://dify.example/hook/1", "subscribe creates a secret")

    body = json.dumps({"action": "opened", "n": 1}).encode()

    def raw(signature):
        head = f"POST /hook/1 HTTP/1.1\r\nHost: dify.example\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n"
        if signature:
            head += f"X-Signature-256: {signature}\r\n"
        return (head.encode() + b"\r\n" + body).hex()

    good = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()

    def dispatch(signature):
        return executor.dispatch_trigger_event(
            session,
            TriggerDispatchEventRequest(provider=name, subscription=sub, credentials=None, credential_type=None, raw_http_request=raw(signature), user_id="u"),
        )

    out = dispatch(good)
    check(out.events == ["payload_received"] and dict(out.payload) == {"action": "opened", "n": 1}, "dispatch names the event and decodes the payload")
    check(binascii.unhexlify(out.response).startswith(b"HTTP/1.1 200"), "dispatch answers 200")
    raises(lambda: dispatch("sha256=" + "0" * 64), TriggerValidationError, "a wrong signature is refused")
    raises(lambda: dispatch(None), TriggerValidationError, "a missing signature is refused")

    def invoke(parameters):
        return executor.invoke_trigger_event(
            session,
            TriggerInvokeEventRequest(
                provider=name, event="payload_received", credentials={}, subscription=sub, user_id="u",
                raw_http_request=raw(good), parameters=parameters, payload=out.payload,
            ),
        )

    res = invoke({})
    check(not res.cancelled and res.variables["payload"] == {"action": "opened", "n": 1}, "event returns the payload variables")
    check(res.variables["content_type"] == "application/json", "event returns the content type")
    check(invoke({"required_key": "missing"}).cancelled, "required_key filters events out")
    refreshed = executor.refresh_trigger(
        session, TriggerRefreshRequest(provider=name, subscription=sub, credential_type="api-key", credentials={}, user_id="u")
    )
    check(refreshed.subscription["expires_at"] == -1, "refresh keeps a subscription that never expires")
    gone = executor.unsubscribe_trigger(
        session, TriggerUnsubscribeRequest(provider=name, subscription=sub, credential_type="api-key", credentials={}, user_id="u")
    )
    check(gone.subscription["success"] is True, "unsubscribe succeeds")


MODEL_CHECKS = {
    "llm": check_llm,
    "text-embedding": check_text_embedding,
    "rerank": check_rerank,
    "tts": check_tts,
    "speech2text": check_speech2text,
    "moderation": check_moderation,
}

CHECKS = {
    "tool": check_tool,
    "extension": check_extension,
    "agent-strategy": check_agent,
    "datasource": check_datasource,
    "trigger": check_trigger,
    **{t: (lambda t: lambda *a: check_models(*a, model_type=t))(t) for t in MODEL_CHECKS},
}


if __name__ == "__main__":
    result = {"ok": True, "checks": checks, "error": ""}
    try:
        main()
    except BaseException as e:  # noqa: BLE001 - everything is reported to the Go test
        result["ok"] = False
        result["error"] = "".join(traceback.format_exception(e))
    sys.stdout.write(json.dumps(result) + "\n")
    sys.stdout.flush()
    # Skip interpreter teardown: gevent's patched threading prints noise at exit.
    os._exit(0 if result["ok"] else 1)
