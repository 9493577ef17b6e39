"""Compatibility names: the build's LLM client is the shared :mod:`lamm.llm_client`."""

from lamm.llm_client import DiskCache, LLMClient, LLMError, RateLimiter, Reply, Usage, cache_key

__all__ = ["DiskCache", "LLMClient", "LLMError", "RateLimiter", "Reply", "Usage", "cache_key"]
