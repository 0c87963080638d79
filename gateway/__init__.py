"""gateway: one address for many LLM upstreams, with an exact quota ledger."""

__version__ = "0.1.0"
