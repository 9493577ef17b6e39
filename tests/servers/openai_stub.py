"""An OpenAI-compatible chat server for the eval/judge tests, with a scripted fault plan (127.0.0.1 only).

Built on :class:`servers.chat_stub.ChatStub` (lifecycle, response writing); what differs is that replies and
faults are chosen by the test: ``reply(messages) -> str`` and ``plan(messages, attempt) -> action`` with
action ``None`` (answer), ``"429"``, ``"500"``, ``"503"``, ``"timeout"`` (stall past the client timeout),
``"malformed"`` (a 200 with a truncated JSON body) or ``"empty"`` (a 200 without message content).
Every request is recorded (``log``), with its attempt number and the ``Authorization`` header's presence.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable

from servers.chat_stub import ChatStub, request_key


def text_of(messages: list[dict]) -> str:
    """The last user message's text (content may be a string or a list of parts)."""
    content = messages[-1]["content"]
    if isinstance(content, str):
        return content
    return " ".join(p.get("text", "") for p in content if p.get("type") == "text")


def images_of(messages: list[dict]) -> list[str]:
    content = messages[-1]["content"]
    if isinstance(content, str):
        return []
    return [p["image_url"]["url"] for p in content if p.get("type") == "image_url"]


def echo_reply(messages: list[dict]) -> str:
    return f"echo: {text_of(messages)[-40:]} [{len(images_of(messages))} image(s)]"


class OpenAIStub(ChatStub):
    def __init__(
        self,
        reply: Callable[[list[dict]], str] = echo_reply,
        plan: Callable[[list[dict], int], str | None] | None = None,
        *,
        stall_s: float = 1.0,
        latency: float = 0.0,
    ) -> None:
        super().__init__(latency=latency, stall_s=stall_s)
        self.reply_fn, self.plan = reply, plan
        self.log: list[dict] = []
        self.in_flight = self.max_in_flight = 0
        self._flight = threading.Lock()

    def _handle(self, h) -> None:  # noqa: ANN001 - BaseHTTPRequestHandler
        body = h.rfile.read(int(h.headers.get("Content-Length", 0)))
        if not h.path.endswith("/chat/completions"):
            return self._send(h, 404, b'{"error": {"message": "not found"}}')
        req = json.loads(body)
        if self.echo_key_status:
            return self.send_echoed_key(h)
        messages = req["messages"]
        key = request_key(messages, req.get("seed"))
        with self.lock:
            self.requests += 1
            self.attempts[key] += 1
            attempt = self.attempts[key]
            self.log.append(
                {"key": key, "attempt": attempt, "messages": messages, "model": req.get("model"),
                 "auth": bool(h.headers.get("Authorization")), "max_tokens": req.get("max_tokens"),
                 "temperature": req.get("temperature"), "top_p": req.get("top_p")}
            )  # fmt: skip
        with self._flight:
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            if self.latency:
                time.sleep(self.latency)
            action = self.plan(messages, attempt) if self.plan else None
            if action in ("429", "500", "503"):
                headers = {"Retry-After": "0"} if action == "429" else None
                return self._send(h, int(action), b'{"error": {"message": "injected"}}', headers)
            if action == "timeout":
                time.sleep(self.stall_s)
                return self._send(h, 200, b'{"too": "late"}')
            if action == "malformed":
                return self._send(h, 200, b'{"choices": [ {"message": oops')
            text = None if action == "empty" else self.reply_fn(messages)
            out = {
                "id": "chatcmpl-" + key[:12], "object": "chat.completion", "created": 0,
                "model": req.get("model", "stub"),
                "choices": [{"index": 0, "message": {"role": "assistant", "content": text},
                             "finish_reason": "stop"}],
                "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
            }  # fmt: skip
            with self.lock:
                self.served_ok[key] += 1
            self._send(h, 200, json.dumps(out).encode("utf-8"))
        finally:
            with self._flight:
                self.in_flight -= 1
