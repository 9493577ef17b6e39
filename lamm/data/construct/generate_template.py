"""Offline C1-C3 from the same annotations, no API: plainer text than an LLM writes (the manifest says
so), but every sentence is true to the annotation. Useful for smoke tests, CI and air-gapped builds."""

from __future__ import annotations

from collections import Counter
from typing import Any

from lamm.data.c4.builders import article
from lamm.data.construct.context import relations
from lamm.data.construct.prompts import DESCRIBE_2D, DESCRIBE_3D
from lamm.data.construct.sources import Item
from lamm.protocol.prompts import plural

NUMBERS = ("no", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten")


def _num(n: int) -> str:
    return NUMBERS[n] if n < len(NUMBERS) else str(n)


def region(bbox: list[float]) -> str:
    """Where a 2D box's centre lies, in words (a 3x3 grid)."""
    cx, cy = (bbox[0] + bbox[2]) / 2, (bbox[1] + bbox[3]) / 2
    col = "left" if cx < 1 / 3 else "right" if cx > 2 / 3 else ""
    row = "top" if cy < 1 / 3 else "bottom" if cy > 2 / 3 else ""
    return f"{row} {col}".strip() + " part" if row or col else "centre"


def _counted(objects: list[dict[str, Any]]) -> list[str]:
    counts = Counter(o["label"] for o in objects)
    return [
        f"{_num(n)} {lab if n == 1 else plural(lab)}"
        for lab, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    ]


def _join(parts: list[str]) -> str:
    return parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]


def _sentences(text: str) -> list[str]:
    out, cur = [], ""
    for tok in text.split(" "):
        cur = f"{cur} {tok}".strip()
        if tok.endswith((".", "!", "?")) and len(cur) > 20:
            out.append(cur)
            cur = ""
    return out + ([cur] if cur else [])


def supports(kind: str, item: Item) -> bool:
    a = item.ann
    if kind == "factual_knowledge":
        return bool(a.get("label") and a.get("knowledge"))
    if kind == "detailed_description":
        return bool(a.get("captions") or a.get("objects") or a.get("label"))
    return bool(
        a.get("captions") or a.get("objects") or a.get("label") or a.get("words") or a.get("attributes")
    )


def _qa_pool(item: Item) -> list[tuple[str, str]]:
    a, thing = item.ann, "scene" if item.dim == "3d" else "image"
    pool: list[tuple[str, str]] = []
    objs = a.get("objects") or []
    if a.get("captions"):
        pool.append((f"What is happening in this {thing}?", a["captions"][0].rstrip(".") + "."))
    if a.get("label"):
        pool.append((f"What is shown in this {thing}?", f"It shows {article(a['label'])} {a['label']}."))
    if objs:
        pool.append((f"What objects can you see in the {thing}?", f"I can see {_join(_counted(objs))}."))
        counts = Counter(o["label"] for o in objs)
        lab, n = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[0]
        verb, noun = ("is", lab) if n == 1 else ("are", plural(lab))
        pool.append((f"How many {plural(lab)} are there?", f"There {verb} {_num(n)} {noun}."))
        if item.dim == "2d":
            single = [o for o in objs if counts[o["label"]] == 1]
            if single:
                o = single[0]
                pool.append(
                    (
                        f"Where is the {o['label']}?",
                        f"The {o['label']} is in the {region(o['bbox'])} of the image.",
                    )
                )
            rel = relations(objs, limit=1)
            if rel:
                pool.append(
                    (
                        "How are the objects placed relative to each other?",
                        rel[0][0].upper() + rel[0][1:] + ".",
                    )
                )
    if a.get("words"):
        pool.append(
            (
                "Is there any text in the image?",
                "Yes, it reads " + _join([f'"{w}"' for w in a["words"][:8]]) + ".",
            )
        )
    if "smile" in a:
        pool.append(
            (
                "Is the person smiling?",
                "Yes, the person is smiling." if a["smile"] else "No, the person is not smiling.",
            )
        )
    if a.get("hair"):
        pool.append(("What color is the person's hair?", f"The person has {a['hair']} hair."))
    return pool


def _daily(item: Item, rng: Any) -> list[dict[str, str]]:
    pool = _qa_pool(item)
    k = min(len(pool), rng.randint(2, 4)) if len(pool) > 1 else len(pool)
    picks = sorted(rng.sample(range(len(pool)), k))
    conv = []
    for i in picks:
        conv += [{"from": "human", "value": pool[i][0]}, {"from": "gpt", "value": pool[i][1]}]
    return conv


KNOW_ASK = ("What is the {thing} in this {media}?", "What does this {media} show?", "Can you identify the {thing} in this {media}?",
            "What kind of {thing} is this?")  # fmt: skip
KNOW_SAY = ("This is {a} {label}.", "It is {a} {label}.", "The {media} shows {a} {label}.")
KNOW_MORE = ("Can you tell me more about the {label}?", "What do you know about {labels}?",
             "What is interesting about {labels}?", "Tell me something about the {label}.")  # fmt: skip
KNOW_ELSE = ("Anything else worth knowing?", "What else can you tell me?", "Is there more to know about it?")


def _knowledge(item: Item, rng: Any) -> list[dict[str, str]]:
    """C2: name the class, then facts from its knowledge text. Images of one class share that text, so
    the phrasing, the facts chosen and their order are drawn per image (the job's seeded ``rng``)."""
    label, sents = item.ann["label"], _sentences(item.ann["knowledge"])
    media = "point cloud" if item.dim == "3d" else "image"
    thing = "object" if item.dim == "3d" else rng.choice(["object", "thing"])
    fill = {"thing": thing, "media": media, "label": label, "labels": plural(label), "a": article(label)}
    start = rng.randrange(len(sents)) if sents else 0
    facts = sents[start:] + sents[:start]  # a rotation: every fact still said once, from another start
    conv = [
        {"from": "human", "value": rng.choice(KNOW_ASK).format(**fill)},
        {"from": "gpt", "value": rng.choice(KNOW_SAY).format(**fill)},
        {"from": "human", "value": rng.choice(KNOW_MORE).format(**fill)},
        {"from": "gpt", "value": " ".join(facts[:2])},
    ]
    if len(facts) > 2:
        conv += [
            {"from": "human", "value": rng.choice(KNOW_ELSE)},
            {"from": "gpt", "value": " ".join(facts[2:5])},
        ]
    return conv


def _description(item: Item, rng: Any) -> list[dict[str, str]]:
    a, parts = item.ann, []
    objs = a.get("objects") or []
    if a.get("captions"):
        parts.append(a["captions"][0].rstrip(".") + ".")
    if a.get("label"):
        parts.append(
            f"The {'point cloud' if item.dim == '3d' else 'image'} shows {article(a['label'])} {a['label']}."
        )
    if objs:
        where = "scene" if item.dim == "3d" else "image"
        counted = _counted(objs)
        verb = "is" if counted[0].startswith("one ") else "are"
        parts.append(f"In the {where} there {verb} {_join(counted)}.")
        if item.dim == "2d":
            counts = Counter(o["label"] for o in objs)
            for o in [o for o in objs if counts[o["label"]] == 1][:4]:
                parts.append(f"The {o['label']} is in the {region(o['bbox'])} of the picture.")
            parts += [r[0].upper() + r[1:] + "." for r in relations(objs, limit=3)]
    for c in (a.get("captions") or [])[1:3]:
        parts.append(c.rstrip(".") + ".")
    if a.get("words"):
        parts.append("Some text is visible: " + _join([f'"{w}"' for w in a["words"][:6]]) + ".")
    text = " ".join(parts)
    if len(text) < 80:  # pad thin annotations with a neutral closing sentence
        text += " Apart from this, the view holds nothing else that stands out."
    bank = DESCRIBE_3D if item.dim == "3d" else DESCRIBE_2D
    return [{"from": "human", "value": rng.choice(bank)}, {"from": "gpt", "value": text}]


BUILDERS = {"daily_dialogue": _daily, "factual_knowledge": _knowledge, "detailed_description": _description}


def template_conversation(kind: str, item: Item, rng: Any) -> list[dict[str, str]]:
    conv = BUILDERS[kind](item, rng)
    if item.dim == "2d" and conv:
        conv[0] = {"from": "human", "value": "<image>\n" + conv[0]["value"]}
    return conv
