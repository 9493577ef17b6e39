"""The LAMM protocol as data: the verbatim prompt strings and the query layout built from them."""

from lamm.protocol.prompts import prompt, prompts

__all__ = ["prompt", "prompts"]
