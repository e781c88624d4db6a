from dify_plugin.interfaces.agent import AgentProvider


class E2EAgentProvider(AgentProvider):
    """The provider needs no credentials; it only groups the strategies."""
