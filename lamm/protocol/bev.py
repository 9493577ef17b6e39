"""System messages for image-only models shown a bird's-eye view (BEV) of the point cloud.

The 3D-suite tasks (``suite3d_prompts.json``) each define a ``bev.system`` with ``z_min``/``z_max``
fields. LAMM's own 3D datasets (ScanNet, ScanRefer, ScanQA_multiplechoice) have none: lamm's protocol (not
LAMM's) inserts the suite's BEV paragraph after the role sentence of their official system message, the
place it has in the suite's messages. The queries stay as they are (every suite ``bev.query_template``
equals its point-cloud ``query_template``).
"""

from __future__ import annotations

import functools

from lamm.protocol.suite3d import suite3d_prompts

__all__ = ["bev_paragraph", "bev_system", "suite3d_prompts"]


@functools.cache
def bev_paragraph() -> str:
    """The one paragraph all suite BEV system messages share (line 2: what the image shows, how to read
    it, the height range as ``{z_min:.2f}``/``{z_max:.2f}`` fields)."""
    lines = {v["bev"]["system"].split("\n")[2] for v in suite3d_prompts().values()}
    if len(lines) != 1 or "{z_min" not in next(iter(lines)):
        raise RuntimeError(
            "suite3d_prompts.json: the bev system messages no longer share their BEV paragraph"
        )
    return lines.pop()


def bev_system(suite_task: str | None, system: str, z_min: float, z_max: float) -> str:
    """The BEV system message: a suite task's ``bev.system`` (``suite_task``: its name in
    ``suite3d_prompts.json``), else ``system`` (a LAMM dataset's official message) with the BEV paragraph
    after its first non-empty line."""
    if suite_task is not None:
        tasks = suite3d_prompts()
        if suite_task not in tasks:
            raise KeyError(f"no 3D-suite task {suite_task!r}; known: {', '.join(sorted(tasks))}")
        return tasks[suite_task]["bev"]["system"].format(z_min=z_min, z_max=z_max)
    lines = system.split("\n")
    first = next((i for i, line in enumerate(lines) if line.strip()), -1)
    lines.insert(first + 1, bev_paragraph().format(z_min=z_min, z_max=z_max))
    return "\n".join(lines)
