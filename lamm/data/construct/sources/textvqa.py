"""TextVQA-style OCR: Rosetta OCR JSON ``{"data": [{"image_id", "ocr_tokens": [...]}]}`` and optionally the
TextVQA question file ``{"data": [{"image_id", "question", "answers": [...]}]}`` (kept as context).

Options: ``ocr`` (required), ``questions`` (optional), ``images`` (default ``train_images``),
``ext`` (default ``.jpg``), ``max_words`` (default 30), ``src`` (default ``textvqa``).
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

from lamm.data.construct.sources import Item, rel_media, require_dir, require_file
from lamm.formats.errors import FormatError
from lamm.formats.jsonio import read_json


def _rows(path: Path) -> list[dict[str, Any]]:
    data = read_json(require_file(path, "TextVQA file"))
    rows = data.get("data") if isinstance(data, dict) else None
    if not isinstance(rows, list):
        raise FormatError(path, "expected an object with a 'data' list")
    for i, r in enumerate(rows):
        if not isinstance(r, dict) or "image_id" not in r:
            raise FormatError(path, "entry needs 'image_id'", index=i)
    return rows


def load(spec: Any, data_root: Path) -> tuple[list[Item], list[Path]]:
    ocr_path = spec.path("ocr")
    img_dir = require_dir(spec.path("images", "train_images"), "TextVQA images")
    ext, max_words = spec.options.get("ext", ".jpg"), int(spec.options.get("max_words", 30))
    files = [ocr_path]
    anns: dict[str, dict[str, Any]] = {}
    for i, r in enumerate(_rows(ocr_path)):
        toks = r.get("ocr_tokens")
        if not isinstance(toks, list) or not all(isinstance(t, str) for t in toks):
            raise FormatError(
                ocr_path, "'ocr_tokens' must be a list of strings", index=i, record_id=r["image_id"]
            )
        words = [w for w in dict.fromkeys(t.strip() for t in toks) if w][:max_words]
        if words:
            anns[str(r["image_id"])] = {"words": words}
    q_path = spec.path("questions", required=False)
    if q_path is not None:
        files.append(q_path)
        for r in _rows(q_path):
            rec = anns.get(str(r["image_id"]))
            if rec is not None and r.get("question"):
                answers = [str(a) for a in r.get("answers", [])]
                best = Counter(answers).most_common(1)[0][0] if answers else ""
                rec.setdefault("qa", []).append({"question": str(r["question"]), "answer": best})
    items = [
        Item(
            spec.name,
            iid,
            rel_media(img_dir / (iid + ext), data_root, source=ocr_path),
            "2d",
            ann,
            spec.options.get("src", "textvqa"),
        )
        for iid, ann in anns.items()
    ]
    return items, files
