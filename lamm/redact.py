"""Secrets out of every error text lamm stores or prints.

A server's error message can echo the API key it was sent (a 401 "Incorrect API key provided: sk-...").
:func:`redact` is applied wherever such text is kept (eval's errors.jsonl and results.json, the judge
report, a build's rejects.jsonl and manifest) or printed. It removes the configured keys (the key
variables' values, and any key a client registered) and anything shaped like a key: ``sk-...`` tokens,
``Bearer`` credentials, long hex strings and long mixed-case base64 strings.
"""

from __future__ import annotations

import os
import re

KEY_ENV = ("LAMM_API_KEY", "OPENAI_API_KEY")
MASK = "***"
_registered: set[str] = set()

_PATTERNS = (
    re.compile(r"(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=\-]{6,}"),
    re.compile(r"\bsk-[A-Za-z0-9_\-*]{6,}"),
    re.compile(r"\b[0-9a-fA-F]{32,}\b"),
)
_BASE64 = re.compile(r"[A-Za-z0-9+_\-]{32,}={0,2}")


def register_secret(value: str | None) -> None:
    """Remember a key this process uses (one read from a variable other than the default ones)."""
    if value and len(value) >= 4 and value != "EMPTY":
        _registered.add(value)


def _secrets() -> list[str]:
    found = set(_registered)
    for name in KEY_ENV:
        value = os.environ.get(name)
        if value and len(value) >= 4 and value != "EMPTY":
            found.add(value)
    return sorted(found, key=len, reverse=True)  # longest first: a key containing another


def _mask_base64(m: re.Match[str]) -> str:
    s = m.group()
    mixed = any(c.isupper() for c in s) and any(c.islower() for c in s) and any(c.isdigit() for c in s)
    return MASK if mixed else s


def redact(text: object) -> str:
    """``text`` with every configured key and key-shaped token replaced by ``***``."""
    out = str(text)
    for secret in _secrets():
        out = out.replace(secret, MASK)
    out = _PATTERNS[0].sub(lambda m: f"{m.group(1)} {MASK}", out)
    for pattern in _PATTERNS[1:]:
        out = pattern.sub(MASK, out)
    return _BASE64.sub(_mask_base64, out)
