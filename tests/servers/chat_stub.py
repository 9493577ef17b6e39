"""A small local OpenAI-compatible chat server for tests and benchmarks (127.0.0.1 only).

Replies are deterministic: a function of the request's messages and ``seed``. Optional fault injection,
also deterministic per request key (sha256 of messages + seed) and attempt number:

    mode 0: first attempt -> 429 (Retry-After: 0)      mode 1: first attempt -> 500
    mode 2: first attempt -> stall past the client timeout
    mode 3: first attempt -> 200 with a malformed (non-JSON) body
    mode 4: always an off-format reply (no role markers)  mode 5: always mentions "the annotations"
    modes 6-7: fine

``served_ok`` counts well-formed 200 replies per request key: a resumed build must not repeat one.
Run as a script for benchmarks: ``python tests/servers/chat_stub.py --latency 0.1`` prints the port.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

N_MODES = 8


def request_key(messages: list[dict], seed: object) -> str:
    blob = json.dumps({"messages": messages, "seed": seed}, sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


def default_reply(messages: list[dict], key: str) -> str:
    """A plausible reply: a paragraph when a description is asked for, else a two-round dialogue."""
    system = messages[0]["content"].lower() if messages and messages[0]["role"] == "system" else ""
    context = messages[-1]["content"]
    first = next((ln[2:].split(":")[0] for ln in context.splitlines() if ln.startswith("- ")), "scene")
    tag = key[:6]
    if "detailed description" in system:
        return (
            f"The picture shows a {first} in a calm setting (variant {tag}). The {first} is near the "
            f"middle of the view, and the surroundings look ordinary and well lit. Nothing else stands out."
        )
    return (
        f"Human: What is the main thing you see here?\nGPT: I see a {first} (variant {tag}).\n"
        f"Human: Where is it?\nGPT: The {first} is close to the centre of the picture."
    )


class ChatStub:
    def __init__(
        self, *, latency: float = 0.0, faults: bool = False, stall_s: float = 1.0, reply=default_reply
    ):
        self.latency, self.faults, self.stall_s, self.reply = latency, faults, stall_s, reply
        self.fail_status: int | None = None  # set to e.g. 500 to fail every request (an outage)
        self.echo_key_status: int | None = None  # e.g. 401: fail with a message echoing the sent key
        self.lock = threading.Lock()
        self.requests = 0
        self.auth_seen: set[str] = set()  # Authorization headers received
        self.gate = threading.Event()  # clear it to hold every request until it is set again
        self.gate.set()
        self.status = Counter()
        self.attempts: Counter[str] = Counter()
        self.served_ok: Counter[str] = Counter()
        self._server: ThreadingHTTPServer | None = None

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> str:
        stub = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:  # quiet
                pass

            def do_POST(self) -> None:  # noqa: N802
                stub._handle(self)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return f"http://127.0.0.1:{self._server.server_address[1]}/v1"

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    def __enter__(self) -> ChatStub:
        self.base_url = self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ------------------------------------------------------------------ handling
    def mode(self, key: str) -> int:
        return int(key[:8], 16) % N_MODES if self.faults else 7

    def _send(self, h: BaseHTTPRequestHandler, code: int, body: bytes, headers: dict | None = None) -> None:
        with self.lock:
            self.status[code] += 1
        try:
            h.send_response(code)
            h.send_header("Content-Type", "application/json")
            h.send_header("Content-Length", str(len(body)))
            for k, v in (headers or {}).items():
                h.send_header(k, v)
            h.end_headers()
            h.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            pass

    def send_echoed_key(self, h: BaseHTTPRequestHandler) -> None:
        """A careless server's 401: the message repeats the key and the header it was sent."""
        auth = h.headers.get("Authorization", "")
        key = auth.removeprefix("Bearer ")
        msg = f"Incorrect API key provided: {key}. You sent the header 'Authorization: {auth}'"
        self._send(h, self.echo_key_status or 401, json.dumps({"error": {"message": msg}}).encode())

    def _handle(self, h: BaseHTTPRequestHandler) -> None:
        body = h.rfile.read(int(h.headers.get("Content-Length", 0)))
        if not h.path.endswith("/chat/completions"):
            return self._send(h, 404, b'{"error": {"message": "not found"}}')
        req = json.loads(body)
        key = request_key(req["messages"], req.get("seed"))
        with self.lock:
            self.requests += 1
            self.auth_seen.add(h.headers.get("Authorization", ""))
            self.attempts[key] += 1
            attempt = self.attempts[key]
        self.gate.wait(120)
        if self.latency:
            time.sleep(self.latency)
        mode = self.mode(key)
        if self.echo_key_status:
            return self.send_echoed_key(h)
        if self.fail_status:
            return self._send(h, self.fail_status, b'{"error": {"message": "outage"}}')
        if attempt == 1 and mode == 0:
            return self._send(h, 429, b'{"error": {"message": "rate limited"}}', {"Retry-After": "0"})
        if attempt == 1 and mode == 1:
            return self._send(h, 500, b'{"error": {"message": "internal error"}}')
        if attempt == 1 and mode == 2:
            time.sleep(self.stall_s)
            return self._send(h, 200, b'{"too": "late"}')
        if attempt == 1 and mode == 3:
            return self._send(h, 200, b'{"choices": [ {"message": oops')
        if mode == 4:
            text = "Sure! Here is something about the picture, without any roles at all."
        elif mode == 5:
            text = "Human: What is shown?\nGPT: According to the annotations, a scene."
        else:
            text = self.reply(req["messages"], key)
        prompt_tokens = sum(len(m["content"]) for m in req["messages"]) // 4
        out = {
            "id": "chatcmpl-" + key[:12],
            "object": "chat.completion",
            "created": 0,
            "model": req.get("model", "stub"),
            "choices": [
                {"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}
            ],
            "usage": {
                "prompt_tokens": prompt_tokens,
                "completion_tokens": len(text) // 4,
                "total_tokens": prompt_tokens + len(text) // 4,
            },  # fmt: skip
        }
        with self.lock:
            self.served_ok[key] += 1
        self._send(h, 200, json.dumps(out).encode("utf-8"))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--latency", type=float, default=0.1)
    ap.add_argument("--faults", action="store_true")
    args = ap.parse_args()
    stub = ChatStub(latency=args.latency, faults=args.faults)
    print(stub.start(), flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        stub.stop()


if __name__ == "__main__":
    main()
