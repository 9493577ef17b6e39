"""Conversation templates: a conversation -> token ids + loss labels (training) or a prompt (inference).

``lamm-v1`` is the official LAMM layout (LAMM_FORMATS §5.2 / §5.4)::

    [BOS] + tok(SYS + "\\n\\n### Human: <Img>") + <media>*N
          + tok("</Img> " + q1 + "\\n### Assistant:")        labels -100
          + tok(a1 + "\\n###")                                supervised
          + tok("Human: " + q2 + "\\n### Assistant:")        labels -100
          + tok(a2 + "\\n###") ...

Each piece is tokenised on its own (``add_special_tokens=False``) and the ids concatenated, as the
official code does. ``max_length`` bounds the text tokens after the media (the official
``max_tgt_len``, 400): truncation cuts turns from the end and never touches BOS/prefix/media.
Deviation: the official batch pads the prefix before the media; we never pad inside a sample
(padding/packing is the collator's job), which changes nothing the model can see.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from lamm.protocol.prompts import train_system_message

IGNORE_INDEX = -100

# modality -> (placeholder removed from the first human turn, start tag, end tag)
VISION_TAGS = {"image": ("<image>", "<Img>", "</Img>"), "pcl": ("<pcl>", "<Pcl>", "</Pcl>")}
MODALITIES = tuple(VISION_TAGS)


class EmptySupervisionError(ValueError):
    """A sample has no supervised (assistant) token left, e.g. after truncation."""

    def __init__(self, sample_id: object, reason: str) -> None:
        self.sample_id = sample_id
        super().__init__(f"sample {sample_id!r}: no supervised token ({reason}); skip or shorten it")


@dataclass
class EncodedSample:
    input_ids: list[int]
    labels: list[int]
    truncated: bool = False  # turns were cut from the end to fit ``max_length`` (the trainer reports it)

    def __len__(self) -> int:
        return len(self.input_ids)


@dataclass(frozen=True)
class Template:
    """Text pieces of one conversation layout. ``separator`` ends generation (text is cut before it)."""

    name: str
    version: str
    prefix: Callable[[str, str], str]  # (system, modality) -> text before the media tokens
    first_human: Callable[[str, str], str]  # (value, modality) -> text right after the media
    human: Callable[[str], str]  # later human turns
    gpt: Callable[[str], str]  # assistant turns (supervised)
    gen_prefix: Callable[[str], str]  # (modality) -> inference text before the media
    gen_suffix: Callable[[str, str, str], str]  # (system, query, modality) -> inference text after media
    separator: str
    default_system: str = ""
    gpt_appends_eos: bool = False  # append the EOS id after each assistant turn (LLaVA-style)
    task_system: bool = False  # training system message chosen by the sample's task_type (official)
    # texts that also end generation but stay in the answer: official af99e98 stops every template on
    # "###" (``LAMMStoppingCriteria``) and cuts the text only at the template's sep2
    extra_stops: tuple[str, ...] = ()


def _strip_placeholder(value: str, modality: str) -> str:
    pos = VISION_TAGS[modality][0]
    return value.replace(f"{pos}\n", "").replace(f"\n{pos}", "")


def _tags(modality: str) -> tuple[str, str]:
    if modality not in VISION_TAGS:
        raise ValueError(f"modality must be one of {MODALITIES}, not {modality!r}")
    return VISION_TAGS[modality][1], VISION_TAGS[modality][2]


LAMM_V1 = Template(
    name="lamm-v1",
    version="1",
    prefix=lambda system, m: (f"{system}\n\n" if system else "") + f"### Human: {_tags(m)[0]}",
    first_human=lambda v, m: f"{_tags(m)[1]} " + _strip_placeholder(v, m) + "\n### Assistant:",
    human=lambda v: "Human: " + v + "\n### Assistant:",
    gpt=lambda v: v + "\n###",
    gen_prefix=lambda m: f"### Human: {_tags(m)[0]}",
    gen_suffix=lambda system, q, m: (
        f"{_tags(m)[1]} " + system + "### Human: " + q + "\n" + "\n### Assistant:"
    ),
    separator="###",
    task_system=True,
)

_LLAVA_SYSTEM = (
    "A chat between a curious user and an artificial intelligence assistant. "
    "The assistant gives helpful, detailed, and polite answers to the user's questions."
)

# LLaVA-1.5 / Vicuna-v1 layout for other bases: "SYS USER: <media>\nq ASSISTANT: a</s>USER: ..."
VICUNA_V1 = Template(
    name="vicuna-v1",
    version="1",
    prefix=lambda system, m: (f"{system} " if system else "") + "USER:",
    first_human=lambda v, m: "\n" + _strip_placeholder(v, m) + " ASSISTANT:",
    human=lambda v: "USER: " + v + " ASSISTANT:",
    gpt=lambda v: " " + v,
    gen_prefix=lambda m: _LLAVA_SYSTEM + " USER:",
    gen_suffix=lambda system, q, m: (
        "\n" + (system.strip() + "\n" if system.strip() else "") + q + " ASSISTANT:"
    ),
    separator="</s>",
    default_system=_LLAVA_SYSTEM,
    gpt_appends_eos=True,
)

TEMPLATES: dict[str, Template] = {}


def register_template(template: Template) -> Template:
    TEMPLATES[template.name] = template
    return template


# The official layouts differ between training (system message before the media) and inference (the
# benchmark's system message after it, then a second "### Human:"); a pretrained LLM bridges that, a tiny
# model trained from scratch in minutes does not. "lamm-v1-nosys" is lamm-v1 without system messages, with
# an inference prompt identical to the training layout (used by the ``tiny`` training preset).
LAMM_V1_NOSYS = Template(
    name="lamm-v1-nosys",
    version="1",
    prefix=lambda system, m: f"### Human: {_tags(m)[0]}",
    first_human=LAMM_V1.first_human,
    human=LAMM_V1.human,
    gpt=LAMM_V1.gpt,
    gen_prefix=LAMM_V1.gen_prefix,
    gen_suffix=lambda system, q, m: f"{_tags(m)[1]} " + q + "\n### Assistant:",
    separator="###",
)

# LLaMA-2-chat layout of the official ``lamm186k_llama2chat7b_lora32`` delta: ``conv_llama2`` of
# src/conversations.py at OpenGVLab/LAMM af99e98, rendered by that commit's builders (src/model/openlamm.py
# ``make_prompt_start``/``build_one_instance``/``prepare_generation_embedding`` with
# ``conv_template=conv_llama2``; the inference text is src/inference_2d.py's ``generate_conversation_text``
# with ``conv_mode llama2``). Its separators are sep " " and sep2 "<s></s>", so the pieces carry the odd
# spacing of ``"{sep} {role}: "`` verbatim; "<s></s>" ends each answer as BOS+EOS ids, so generation ends
# at EOS, or, as the official stopping criteria say, at "###", which stays in the answer (the official text
# is only split at sep2). The training system message is the ``latest`` task table (conversation_dict at af99e98).
_LLAMA2_SYS = "[INST]<<SYS>>\n{}\n<</SYS>>\n\n"  # conv_llama2.sys_temp
_LLAMA2_DEFAULT_SYSTEM = (
    "You are a helpful language and vision assistant. You are able to understand the visual content that "
    "the user provides, and assist the user with a variety of tasks using natural language."
)


def _llama2_system(system: str) -> str:
    return _LLAMA2_SYS.format(system or _LLAMA2_DEFAULT_SYSTEM)


LLAMA2_CHAT = Template(
    name="llama2-chat",
    version="1",
    prefix=lambda system, m: (_llama2_system(system) if system else "") + f"  [INST]: {_tags(m)[0]}",
    first_human=lambda v, m: f"{_tags(m)[1]} " + _strip_placeholder(v, m) + "\n  [/INST]: ",
    human=lambda v: "[INST]: " + v + "\n  [/INST]: ",
    gpt=lambda v: v + "\n<s></s>",
    gen_prefix=lambda m: f"  [INST]: {_tags(m)[0]}",
    gen_suffix=lambda system, q, m: (
        f"{_tags(m)[1]} " + _llama2_system(system) + "\n\n" + "[INST]: " + q + "\n " + "\n  [/INST]:"
    ),
    separator="<s></s>",
    extra_stops=("###",),
    default_system=_LLAMA2_DEFAULT_SYSTEM,
    task_system=True,
)

register_template(LAMM_V1)
register_template(VICUNA_V1)
register_template(LAMM_V1_NOSYS)
register_template(LLAMA2_CHAT)


def get_template(name: str) -> Template:
    if name not in TEMPLATES:
        raise KeyError(f"unknown template {name!r}; known: {sorted(TEMPLATES)}")
    return TEMPLATES[name]


def _tok(tokenizer, text: str) -> list[int]:
    return list(tokenizer(text, add_special_tokens=False)["input_ids"])


def encode_sample(
    conversations: list[dict[str, str]],
    task_type: str,
    tokenizer,
    *,
    num_media_tokens: int,
    media_token_id: int | None = None,
    modality: str = "image",
    template: str = "lamm-v1",
    max_length: int | None = 400,
    use_system: bool = True,
    system_version: str = "v1",
    sample_id: object = None,
    max_total_length: int | None = None,
) -> EncodedSample:
    """Token ids and labels of one training sample (official layout for ``lamm-v1``).

    ``max_length`` bounds the text tokens after the media (official ``max_tgt_len``);
    ``max_total_length`` (optional) bounds the whole sequence. Neither ever cuts BOS/prefix/media.
    Raises ``EmptySupervisionError`` when no assistant token is left.
    """
    tpl = get_template(template)
    _tags(modality)
    if media_token_id is None:
        media_token_id = tokenizer.convert_tokens_to_ids("<media>")
        if media_token_id is None or media_token_id == tokenizer.unk_token_id:
            raise ValueError("tokenizer has no '<media>' token; call lamm.model.lamm_model.add_media_token")
    if not conversations or conversations[0].get("from") != "human":
        raise ValueError(f"sample {sample_id!r}: the first turn must be 'human'")

    system = ""
    if use_system and tpl.task_system:
        system = train_system_message(task_type or "normal", system_version)
    elif use_system:
        system = tpl.default_system
    head = [tokenizer.bos_token_id] if tokenizer.bos_token_id is not None else []
    head += _tok(tokenizer, tpl.prefix(system, modality)) + [media_token_id] * num_media_tokens

    ids: list[int] = []
    labels: list[int] = []
    for i, turn in enumerate(conversations):
        role, value = turn.get("from"), turn.get("value")
        if not isinstance(value, str):
            raise ValueError(f"sample {sample_id!r}: turn {i} value must be a string")
        if role == "human":
            piece = _tok(tokenizer, tpl.first_human(value, modality) if i == 0 else tpl.human(value))
            ids += piece
            labels += [IGNORE_INDEX] * len(piece)
        elif role == "gpt":
            piece = _tok(tokenizer, tpl.gpt(value))
            if tpl.gpt_appends_eos and tokenizer.eos_token_id is not None:
                piece.append(tokenizer.eos_token_id)
            ids += piece
            labels += piece
        else:
            raise ValueError(f"sample {sample_id!r}: turn {i} has role {role!r}; only human/gpt allowed")
    if media_token_id in ids:
        raise ValueError(f"sample {sample_id!r}: conversation text contains the media token")

    limit = len(ids)
    if max_length is not None:
        limit = min(limit, max_length)
    if max_total_length is not None:
        limit = min(limit, max_total_length - len(head))
        if limit < 0:
            raise EmptySupervisionError(sample_id, f"prefix+media alone exceed {max_total_length} tokens")
    truncated = limit < len(ids)
    ids, labels = ids[:limit], labels[:limit]
    if all(lab == IGNORE_INDEX for lab in labels):
        why = "all assistant turns truncated" if truncated else "no assistant turn"
        raise EmptySupervisionError(sample_id, why)
    return EncodedSample(head + ids, [IGNORE_INDEX] * len(head) + labels, truncated)


def build_generation_prompt(
    system: str,
    query: str,
    tokenizer,
    num_media_tokens: int,
    modality: str = "image",
    template: str = "lamm-v1",
    *,
    media_token_id: int | None = None,
    history: list[tuple[str, str]] | None = None,
) -> list[int]:
    """Prompt ids for generation (official §5.4 layout for ``lamm-v1``)::

        [BOS] + tok("### Human: <Img>") + <media>*N + tok("</Img> " + SYS + "### Human: " + q + "\\n\\n### Assistant:")

    ``history`` (earlier (query, answer) pairs, for multi-turn chat) is rendered after the first turn
    the way the training template renders later turns. ``num_media_tokens=0`` gives a text-only prompt.
    """
    tpl = get_template(template)
    if media_token_id is None:
        media_token_id = tokenizer.convert_tokens_to_ids("<media>")
    ids = [tokenizer.bos_token_id] if tokenizer.bos_token_id is not None else []
    ids += _tok(tokenizer, tpl.gen_prefix(modality)) + [media_token_id] * num_media_tokens
    turns = list(history or []) + [(query, None)]
    first_q, first_a = turns[0]
    ids += _tok(tokenizer, tpl.gen_suffix(system, first_q, modality))
    if first_a is not None:
        ids += _tok(tokenizer, tpl.gpt(first_a))
        for q, a in turns[1:]:
            ids += _tok(tokenizer, tpl.human(q))
            if a is not None:
                ids += _tok(tokenizer, tpl.gpt(a))
    return ids


def cli_demo_system(system: str, history: list[tuple[str, str]]) -> str:
    """Official ``src/cli_demo.py``'s conversation text before the current question (78fc728/af99e98
    ``generate_conversation_text``): the system message, then ``"### Human: q\n### Assistant: a\n"`` per
    earlier turn, ``q`` without "<image>" and newlines as cli_demo strips them. Given as the system
    message of a ``###`` template's generation prompt, the model sees cli_demo's prompt exactly::

        </Img> SYS### Human: q1\n### Assistant: a1\n### Human: q2\n\n### Assistant:

    (cli_demo stores the model's raw output list as ``a``, so it renders ``['...']``; lamm uses the
    answer text.)"""
    turns = "".join(
        f"### Human: {q.replace('<image>', '').replace(chr(10), '')}\n### Assistant: {a}\n"
        for q, a in history
    )
    return system + turns


__all__ = [
    "cli_demo_system",
    "IGNORE_INDEX",
    "EmptySupervisionError",
    "EncodedSample",
    "Template",
    "TEMPLATES",
    "register_template",
    "get_template",
    "encode_sample",
    "build_generation_prompt",
]
