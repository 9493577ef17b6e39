"""Building blocks of the point-cloud encoder: ViT blocks (Point-BERT's and CLIP's alike), the two point
tokenizers (Point-BERT's mini-PointNet, PointNet++ set abstraction) and EPCL's task tokens."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class QuickGELU(nn.Module):
    """CLIP's activation: x * sigmoid(1.702 x)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.sigmoid(1.702 * x)


ACTIVATIONS = {"gelu": nn.GELU, "quick_gelu": QuickGELU}


class Attention(nn.Module):
    def __init__(self, dim: int, num_heads: int, qkv_bias: bool) -> None:
        super().__init__()
        self.num_heads = num_heads
        self.qkv = nn.Linear(dim, 3 * dim, bias=qkv_bias)  # q, k, v stacked (as timm and CLIP's in_proj)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, t, d = x.shape
        q, k, v = self.qkv(x).reshape(b, t, 3, self.num_heads, d // self.num_heads).permute(2, 0, 3, 1, 4)
        out = F.scaled_dot_product_attention(q, k, v)
        return self.proj(out.transpose(1, 2).reshape(b, t, d))


class Mlp(nn.Module):
    def __init__(self, dim: int, hidden: int, act: str) -> None:
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.act = ACTIVATIONS[act]()
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.act(self.fc1(x)))


class Block(nn.Module):
    """Pre-norm transformer block (Point-BERT's and CLIP's residual block alike)."""

    def __init__(self, dim: int, num_heads: int, mlp_ratio: float, qkv_bias: bool, act: str) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(dim)
        self.attn = Attention(dim, num_heads, qkv_bias)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = Mlp(dim, int(dim * mlp_ratio), act)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.norm1(x))
        return x + self.mlp(self.norm2(x))


def pointwise(conv: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """A 1x1 convolution applied channels-last (``[..., C_in] -> [..., C_out]``) as one matrix product.

    The modules stay ``Conv1d``/``Conv2d`` so checkpoints keep their shapes; on the CPU a plain matmul
    over channels-last points is several times faster than mkldnn's 1x1 convolution (forward and backward).
    """
    return F.linear(x, conv.weight.flatten(1), conv.bias)


def batchnorm(bn: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """BatchNorm over every point of ``x [..., C]`` (the same statistics as on ``[N, C, L]``)."""
    return bn(x.reshape(-1, x.shape[-1])).reshape(x.shape)


class MiniPointNet(nn.Module):
    """Point-BERT's group encoder: conv-BN-ReLU-conv, max-pool, concat global, conv-BN-ReLU-conv, max-pool."""

    def __init__(self, in_channels: int, dims: list[int], out_dim: int, norm: str = "batch") -> None:
        super().__init__()
        c1, c2 = dims
        if norm not in ("batch", "layer"):
            raise ValueError(f"group_norm must be 'batch' or 'layer', got {norm!r}")
        make = nn.BatchNorm1d if norm == "batch" else nn.LayerNorm  # layer: no batch statistics
        self.first_conv = nn.Sequential(
            nn.Conv1d(in_channels, c1, 1), make(c1), nn.ReLU(inplace=True), nn.Conv1d(c1, c2, 1)
        )
        self.second_conv = nn.Sequential(
            nn.Conv1d(2 * c2, 2 * c2, 1),
            make(2 * c2),
            nn.ReLU(inplace=True),
            nn.Conv1d(2 * c2, out_dim, 1),
        )

    def forward(self, groups: torch.Tensor) -> torch.Tensor:
        """``[B, G, k, C]`` -> ``[B, G, out_dim]`` (channels-last throughout)."""
        conv_a, bn_a, _, conv_b = self.first_conv
        x = pointwise(conv_b, F.relu(_norm(bn_a, pointwise(conv_a, groups))))  # [B, G, k, c2]
        x = torch.cat([x.max(dim=2, keepdim=True).values.expand_as(x), x], dim=-1)
        conv_c, bn_c, _, conv_d = self.second_conv
        return pointwise(conv_d, F.relu(_norm(bn_c, pointwise(conv_c, x)))).max(dim=2).values


def _norm(m: nn.Module, x: torch.Tensor) -> torch.Tensor:
    return m(x) if isinstance(m, nn.LayerNorm) else batchnorm(m, x)


class ConvBNReLU(nn.Module):
    """pointnet2 ``SharedMLP`` layer: 1x1 Conv2d without bias, BatchNorm, ReLU (applied channels-last)."""

    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, 1, bias=False)
        self.bn = nn.BatchNorm1d(cout)  # same parameters and buffers as pointnet2's BatchNorm2d

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(batchnorm(self.bn, pointwise(self.conv, x)))


class SetAbstraction(nn.Module):
    """PointNet++ set abstraction MLP (3DETR ``PointnetSAModuleVotes``): BN+ReLU after every conv, max-pool.

    Input channels are the relative xyz divided by ``radius`` followed by the extra features.
    """

    def __init__(self, in_channels: int, dims: list[int], out_dim: int, radius: float) -> None:
        super().__init__()
        self.radius = radius
        widths = [in_channels, *dims, out_dim]
        for i, (cin, cout) in enumerate(zip(widths[:-1], widths[1:])):
            self.add_module(f"layer{i}", ConvBNReLU(cin, cout))

    def forward(self, groups: torch.Tensor) -> torch.Tensor:
        """``[B, G, k, C]`` -> ``[B, G, D]``."""
        x = torch.cat([groups[..., :3] / self.radius, groups[..., 3:]], dim=-1)
        for layer in self.children():
            x = layer(x)
        return x.max(dim=2).values


class TaskPrompt(nn.Module):
    """EPCL's task-embedding tokens (``te_encoder``): embedding -> Linear-GELU-Linear, appended to the sequence."""

    def __init__(self, num: int, dim: int) -> None:
        super().__init__()
        self.embedding = nn.Embedding(num, dim)
        self.trans = nn.Sequential(nn.Linear(dim, dim), nn.GELU(), nn.Linear(dim, dim))

    def forward(self, batch: int) -> torch.Tensor:
        ids = torch.arange(self.embedding.num_embeddings, device=self.embedding.weight.device)
        return self.trans(self.embedding(ids)).unsqueeze(0).expand(batch, -1, -1)
