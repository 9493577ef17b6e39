"""Our system messages and few-shot examples for C1-C3 (LLM generator). VERSIONED: any change to a
text below must bump its ``version``; the manifest records version + SHA-256 of what was sent.

The context format is ``lamm.data.construct.context.build_context``. Replies: C1/C2 as ``Human:``/``GPT:``
lines; C3 as plain paragraphs.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

_SEE = (
    "You are an AI visual assistant looking at a single {media}. Instead of the {media} itself you "
    "receive facts about it: captions, objects with boxes (2D boxes are [x1, y1, x2, y2] normalised to "
    "0-1 with the origin at the top left; 3D boxes are centre and size in metres), spatial relations, "
    "a category with background knowledge, attributes or text found in it. "
)
_RULES = (
    "Speak as if you see the {media} yourself. Never mention captions, annotations, boxes, coordinates, "
    "numbers taken from boxes, or that anything was given or described to you; describe positions in "
    "words (left, right, top, bottom, centre, next to). Only state what the facts support."
)
_DIALOGUE_FORMAT = (
    "Write 2 to 5 rounds. Put every turn on its own line starting with 'Human:' (the person's question) "
    "or 'GPT:' (your answer), beginning with Human and ending with GPT. Write nothing else."
)


@dataclass(frozen=True)
class PromptSpec:
    kind: str
    version: str
    system: str
    examples: tuple[tuple[str, str], ...]  # (context, reply)

    def messages(self, context: str, media: str) -> list[dict[str, str]]:
        msgs = [{"role": "system", "content": self.system.format(media=media)}]
        for ctx, reply in self.examples:
            msgs += [{"role": "user", "content": ctx}, {"role": "assistant", "content": reply}]
        msgs.append({"role": "user", "content": context})
        return msgs

    def sha256(self) -> str:
        blob = json.dumps([self.system, self.examples], ensure_ascii=False)
        return hashlib.sha256(blob.encode("utf-8")).hexdigest()


_EX_STREET = """Captions:
- A man rides a bicycle past a red bus on a city street.
- A cyclist and a double decker bus on a busy road.
Objects (boxes as [x1, y1, x2, y2], normalised to 0-1, origin at the top left):
- person: [0.1, 0.35, 0.28, 0.9]
- bicycle: [0.08, 0.55, 0.31, 0.95]
- bus: [0.45, 0.2, 0.98, 0.85]
Relations:
- the person is left of the bus"""

_EX_OWL = """Category: snowy owl
Knowledge: The snowy owl is a large white owl of the true owl family. It is native to the Arctic regions of North America and the Palearctic. Males are almost all white, while females have more dark flecks. Unlike most owls it hunts in the daytime, mainly lemmings and other small rodents."""

DAILY_DIALOGUE = PromptSpec(
    "daily_dialogue",
    "c1-v1",
    _SEE + "Design a natural conversation between a person asking about the {media} and you answering. "
    "Ask diverse questions with definite answers: what objects there are, how many, what they are doing, "
    "where they are and how they relate to each other. " + _RULES + " " + _DIALOGUE_FORMAT,
    (
        (
            _EX_STREET,
            "Human: What is the man in the picture doing?\n"
            "GPT: He is riding a bicycle along a city street.\n"
            "Human: What vehicle is next to him?\n"
            "GPT: A large red double-decker bus is on his right, taking up most of the right half of the scene.\n"
            "Human: Is the cyclist in front of the bus or behind it?\n"
            "GPT: He is on the left side of the street, beside the bus, so he appears to be passing it.",
        ),
    ),
)

FACTUAL_KNOWLEDGE = PromptSpec(
    "factual_knowledge",
    "c2-v1",
    _SEE + "The {media} shows the object named in 'Category'. Design a conversation in which a person "
    "asks what is in the {media} and then about knowledge related to it (what it is, where it is found "
    "or used, its properties and behaviour), and you answer as an assistant who sees it and knows these "
    "facts. Take facts from the knowledge text; add nothing you are not sure of. "
    + _RULES
    + " "
    + _DIALOGUE_FORMAT,
    (
        (
            _EX_OWL,
            "Human: What bird is this?\n"
            "GPT: This is a snowy owl, a large owl with mostly white plumage.\n"
            "Human: Where do these owls live?\n"
            "GPT: Snowy owls are native to the Arctic regions of North America and Eurasia.\n"
            "Human: Can you tell whether it is a male or a female?\n"
            "GPT: Males are almost pure white while females carry more dark flecks, so a very white bird "
            "like this one is more likely a male.\n"
            "Human: When does it hunt?\n"
            "GPT: Unlike most owls it hunts during the day, mainly catching lemmings and other small rodents.",
        ),
    ),
)

DETAILED_DESCRIPTION = PromptSpec(
    "detailed_description",
    "c3-v1",
    _SEE + "Write a detailed description of the {media} in one or two paragraphs: the scene, every "
    "notable object, how many there are, their attributes, where they are and how they relate to each "
    "other. " + _RULES + " Reply with the description only.",
    (
        (
            _EX_STREET,
            "The scene shows a busy city street. On the left side a man is riding a bicycle, pedalling "
            "along the road. Filling most of the right half of the view is a large red double-decker bus, "
            "so the cyclist is passing right beside it. The bus and the cyclist travel the same road, "
            "which gives the picture the feeling of ordinary city traffic in motion.",
        ),
    ),
)

PROMPTS: dict[str, PromptSpec] = {
    p.kind: p for p in (DAILY_DIALOGUE, FACTUAL_KNOWLEDGE, DETAILED_DESCRIPTION)
}

# Human turns of C3 samples (the description itself comes from the generator).
DESCRIBE_2D = (
    "Describe the following image in detail.",
    "Provide a detailed description of the given image.",
    "Give an elaborate explanation of the image you see.",
    "Explain the visual content of the image in great detail.",
    "What do you see in this picture? Please describe it thoroughly.",
    "Can you write a detailed description of this image?",
)
DESCRIBE_3D = (
    "Describe the following point cloud in detail.",
    "Provide a detailed description of the given 3D scene.",
    "What does this point cloud show? Describe it thoroughly.",
    "Give an elaborate explanation of the 3D scene you see.",
)


def versions() -> dict[str, dict[str, str]]:
    return {k: {"version": p.version, "sha256": p.sha256()} for k, p in PROMPTS.items()}
