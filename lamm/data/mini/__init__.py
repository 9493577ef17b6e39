"""LAMM-Mini: a procedurally rendered world in the official LAMM layout, small enough to train on a CPU.

``build_mini(out, seed=..., train=..., test=...)`` writes ``2D_Benchmark``, ``2D_Instruct`` and (unless
``with_3d=False``) ``3D_Benchmark`` and ``3D_Instruct`` under ``out``, plus ``lamm_mini.json`` (manifest).
See docs/lamm_mini.md.
"""

from lamm.data.mini.build import MANIFEST, BuildSummary, build_mini

__all__ = ["MANIFEST", "BuildSummary", "build_mini"]
