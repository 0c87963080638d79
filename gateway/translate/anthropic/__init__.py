"""Anthropic adapter: requests, responses and streams to and from the neutral model."""
