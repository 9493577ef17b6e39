"""The point-cloud encoder's outputs for saved weights and a saved cloud stay what they were.

``tests/fixtures/pcl_golden_*.safetensors`` were written by ``python tests/test_pcl_golden.py`` with the
single-file encoder of main b945e4d (before it became the ``lamm.model.encoders.pointcloud`` package):
per style the encoder's state dict (BatchNorm statistics moved by two training steps) and, in
``pcl_golden_io``, the input clouds and the tokens it gave. Reloading those weights through
``model.encoder.path`` must give the same tokens: bit-identical on the machine that wrote them (checked
at the split), within float rounding on another CPU whose kernels sum in another order.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file

from lamm.model.encoders import build_encoder

FIXTURES = Path(__file__).parent / "fixtures"
BASE = {"type": "pointcloud", "num_points": 256, "num_groups": 16, "group_size": 8, "hidden_size": 16}
BASE |= {"depth": 2, "num_heads": 4, "mlp_ratio": 2.0, "pointnet_dims": [16, 32]}
STYLES = {
    "pointbert": {**BASE, "use_color": True, "group_dim": 24},
    "epcl": {**BASE, "style": "epcl", "radius": 0.5, "num_prompt_tokens": 3},
    "bev": {**BASE, "bev_grid": 2, "group_dim": 16, "group_norm": "layer", "group_xyz_scale": 0.5},
}


def _cloud(style: str, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.rand(2, 256, 6 if STYLES[style].get("use_color") else 3, generator=g)


def write_fixtures() -> None:
    torch.set_num_threads(1)
    io = {}
    for style, cfg in STYLES.items():
        enc = build_encoder({**cfg, "seed": 3, "trainable": True}).train()
        with torch.no_grad():
            for step in range(2):  # move the BatchNorm statistics off their init
                enc(_cloud(style, 10 + step) * 2)
        enc.eval()
        x = _cloud(style, 1)
        io[f"{style}.input"], io[f"{style}.output"] = x, enc(x).detach().contiguous()
        save_file(
            {k: v.contiguous() for k, v in enc.state_dict().items()},
            FIXTURES / f"pcl_golden_{style}.safetensors",
        )
    save_file(io, FIXTURES / "pcl_golden_io.safetensors")


@pytest.mark.parametrize("style", sorted(STYLES))
def test_saved_weights_give_the_saved_tokens(style):
    torch.set_num_threads(1)
    io = load_file(FIXTURES / "pcl_golden_io.safetensors")
    path = FIXTURES / f"pcl_golden_{style}.safetensors"
    enc = build_encoder(
        {**STYLES[style], "seed": 4, "path": str(path), "weights_format": "lamm", "strict_weights": True}
    )
    assert enc.load_report.ok and len(enc.load_report.loaded) == len(load_file(path))
    with torch.no_grad():
        out = enc.eval()(io[f"{style}.input"])
    want = io[f"{style}.output"]
    assert out.shape == want.shape and want.abs().max() > 0.1
    torch.testing.assert_close(out, want, rtol=1e-5, atol=1e-6)


if __name__ == "__main__":
    sys.exit(write_fixtures())
