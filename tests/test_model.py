"""LAMMModel on tiny random bases: media splicing, packing masks, overfitting, encoder preprocessing."""

from __future__ import annotations

import pickle

import pytest
import torch
from model_helpers import tiny_config, write_png
from transformers.models.clip.image_processing_pil_clip import CLIPImageProcessorPil

from lamm.formats.errors import FormatError
from lamm.model.encoders import build_encoder
from lamm.model.lamm_model import block_causal_mask, build_model
from lamm.model.template import IGNORE_INDEX, encode_sample

K = 16  # media tokens of the tiny config

CONVS = [
    [
        {"from": "human", "value": "<image>\nWhat is in the image?"},
        {"from": "gpt", "value": "A cat sitting on a mat."},
    ],
    [
        {"from": "human", "value": "How many dogs are there?"},
        {"from": "gpt", "value": "There are 3 dogs."},
        {"from": "human", "value": "Where is the chair?"},
        {"from": "gpt", "value": "The chair is at the left of the room."},
    ],
]


@pytest.fixture(scope="module")
def built():
    torch.manual_seed(0)
    return build_model(tiny_config())


def encode(tok, conv):
    return encode_sample(conv, "normal", tok, num_media_tokens=K, use_system=False)


def test_media_embeddings_land_at_media_positions(built):
    model, tok = built
    model.eval()
    # one padded batch of 2 samples, and one packed row carrying both samples
    a, b = (encode(tok, c) for c in CONVS)
    media = torch.randn(2, 3, 32, 32)
    ids = torch.tensor([a.input_ids + b.input_ids])
    with torch.no_grad():
        embeds = model.embed(ids, media)
        feats = model.projector(model.encoder(media))  # [2, K, H]
        tok_emb = model.base_llm.get_input_embeddings()(ids)
    where = (ids == model.media_token_id)[0]
    assert int(where.sum()) == 2 * K
    assert torch.equal(embeds[0, where], feats.reshape(2 * K, -1))
    assert torch.equal(embeds[0, ~where], tok_emb[0, ~where])
    # the first item's features land in the first sample's slots (row-major order)
    first = a.input_ids.index(model.media_token_id)
    assert torch.equal(embeds[0, first : first + K], feats[0])
    with pytest.raises(ValueError, match="media items"):
        model.embed(ids, media[:1])
    with pytest.raises(ValueError, match="no media"):
        model.embed(ids, None)


def _per_segment_mean_loss(logits, labels, seg):
    """Mean token CE per packed sample, computed by hand from the packed logits (target position's segment)."""
    lp = torch.log_softmax(logits[0, :-1].double(), -1)
    lab, tseg = labels[0, 1:], seg[0, 1:]
    keep = lab != IGNORE_INDEX
    ce = -lp.gather(-1, lab.clamp(min=0)[:, None])[:, 0]
    return [float(ce[keep & (tseg == k)].mean()) for k in range(int(seg.max()))]


@pytest.mark.parametrize("attn", ["sdpa", "eager"])
def test_packed_4d_mask_equals_separate_samples(attn):
    torch.manual_seed(0)
    model, tok = build_model(tiny_config(attn_implementation=attn))
    model.eval()
    a, b = (encode(tok, c) for c in CONVS)
    media = torch.randn(2, 3, 32, 32)
    pad = 5
    ids = torch.tensor([a.input_ids + b.input_ids + [tok.pad_token_id] * pad])
    labels = torch.tensor([a.labels + b.labels + [IGNORE_INDEX] * pad])
    seg = torch.tensor([[0] * len(a) + [1] * len(b) + [2] * pad])
    pos = torch.tensor([list(range(len(a))) + list(range(len(b))) + list(range(pad))])
    with torch.no_grad():
        packed = model(
            ids, labels=labels, attention_mask=block_causal_mask(seg), position_ids=pos, media=media
        )
        sep = [
            model(torch.tensor([s.input_ids]), labels=torch.tensor([s.labels]), media=media[i : i + 1])
            for i, s in enumerate((a, b))
        ]
        # also: no mask, restarting position_ids -> transformers detects packing itself
        nomask = model(ids, labels=labels, position_ids=pos, media=media)
    assert not torch.isnan(packed.logits).any()
    la, lb = len(a), len(b)
    torch.testing.assert_close(packed.logits[0, :la], sep[0].logits[0], atol=1e-5, rtol=0)
    torch.testing.assert_close(packed.logits[0, la : la + lb], sep[1].logits[0], atol=1e-5, rtol=0)
    # per-sample loss from the packed row == each sample's loss alone (within 1e-5)
    per_sample = _per_segment_mean_loss(packed.logits, labels, seg)
    assert abs(per_sample[0] - float(sep[0].loss)) < 1e-5
    assert abs(per_sample[1] - float(sep[1].loss)) < 1e-5
    # and the packed mean is the token-weighted mean of the two
    n_a, n_b = int(sep[0].num_loss_tokens), int(sep[1].num_loss_tokens)
    assert int(packed.num_loss_tokens) == n_a + n_b
    mean_sep = (float(sep[0].loss) * n_a + float(sep[1].loss) * n_b) / (n_a + n_b)
    assert abs(float(packed.loss) - mean_sep) < 1e-5
    assert abs(float(nomask.loss) - float(packed.loss)) < 1e-5


def test_fixed_batch_overfits():
    torch.manual_seed(0)
    model, tok = build_model(tiny_config())
    model.train()
    encs = [encode(tok, c) for c in CONVS]
    t = max(len(e) for e in encs)
    ids = torch.tensor([e.input_ids + [tok.pad_token_id] * (t - len(e)) for e in encs])
    labels = torch.tensor([e.labels + [IGNORE_INDEX] * (t - len(e)) for e in encs])
    mask = torch.tensor([[1] * len(e) + [0] * (t - len(e)) for e in encs])
    media = torch.randn(2, 3, 32, 32)
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=3e-3)
    losses = []
    for _ in range(40):
        loss = model(ids, labels=labels, attention_mask=mask, media=media).loss
        losses.append(loss.item())
        if losses[-1] < 0.1 * losses[0]:
            break
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert losses[-1] < 0.1 * losses[0], losses  # falls by 90% within 40 steps


def test_trainable_sets_and_gradient_checkpointing():
    torch.manual_seed(0)
    model, tok = build_model(tiny_config(lora=True))
    names = [n for n, p in model.named_parameters() if p.requires_grad]
    assert names and all(".lora_" in n or n.startswith("projector.") for n in names)
    assert any(n.startswith("projector.") for n in names)
    e = encode(tok, CONVS[0])
    ids, labels, media = torch.tensor([e.input_ids]), torch.tensor([e.labels]), torch.randn(1, 3, 32, 32)
    model.eval()  # no dropout, so both runs see the same function
    ref = model(ids, labels=labels, media=media).loss
    ref.backward()
    g_ref = model.projector.weight.grad.clone()
    model.zero_grad()
    model.gradient_checkpointing_enable()
    model.base_llm.train()
    loss = model(ids, labels=labels, media=media).loss
    loss.backward()
    torch.testing.assert_close(loss, ref)
    torch.testing.assert_close(model.projector.weight.grad, g_ref)
    model.gradient_checkpointing_disable()


def test_clip_preprocessor_matches_hf_and_names_bad_files(tmp_path):
    enc = build_encoder(
        {
            "type": "clip",
            "config": {
                "image_size": 64,
                "patch_size": 16,
                "hidden_size": 32,
                "intermediate_size": 64,
                "num_hidden_layers": 1,
                "num_attention_heads": 2,
                "projection_dim": 8,
            },
        }
    )
    assert (enc.num_tokens, enc.hidden_size) == (16, 32)
    pre = pickle.loads(pickle.dumps(enc.preprocessor()))
    img = write_png(tmp_path / "a.png", 1, size=(80, 50))
    x = pre(img)
    hf = CLIPImageProcessorPil(size={"shortest_edge": 64}, crop_size={"height": 64, "width": 64})
    from PIL import Image

    ref = hf(images=Image.open(img), return_tensors="pt")["pixel_values"][0]
    assert x.shape == (3, 64, 64)
    torch.testing.assert_close(x, ref, atol=1e-5, rtol=0)
    bad = tmp_path / "broken.jpg"
    bad.write_bytes(b"not an image")
    with pytest.raises(FormatError, match="broken.jpg.*cannot read image"):
        pre(bad)
    # global feature: one projected token
    g = build_encoder(
        {
            "type": "clip",
            "feature": "global",
            "config": {
                "image_size": 64,
                "patch_size": 16,
                "hidden_size": 32,
                "intermediate_size": 64,
                "num_hidden_layers": 1,
                "num_attention_heads": 2,
                "projection_dim": 8,
            },
        }
    )
    assert g(x[None]).shape == (1, 1, 8)
    assert enc(x[None]).shape == (1, 16, 32)
    # pool 2: each token is the mean of a 2 x 2 block of the 4 x 4 patch grid (row-major)
    cfg = {"type": "clip", "config": dict(enc.model.config.to_dict())}
    pooled = build_encoder({**cfg, "pool": 2})
    pooled.model.load_state_dict(enc.model.state_dict())
    full = enc(x[None])[0].reshape(4, 4, 32)
    want = torch.stack([full[r : r + 2, c : c + 2].mean((0, 1)) for r in (0, 2) for c in (0, 2)])
    assert pooled.num_tokens == 4
    torch.testing.assert_close(pooled(x[None])[0], want)
    with pytest.raises(ValueError, match="pool must divide the 4 x 4 patch grid"):
        build_encoder({**cfg, "pool": 3})


def test_point_cloud_model_through_the_registry():
    """A 3D model: the point-cloud encoder plugs in via the registry and the 3D template."""
    enc = {"type": "pointcloud", "num_points": 256, "num_groups": 16, "group_size": 8, "hidden_size": 32,
           "depth": 2, "num_heads": 4}  # fmt: skip
    torch.manual_seed(0)
    model, tok = build_model(tiny_config(encoder=enc))
    assert model.modality == "pcl"
    conv = [
        {"from": "human", "value": "Where is the chair?\n<pcl>"},
        {"from": "gpt", "value": "At the left."},
    ]
    e = encode_sample(conv, "detection3d", tok, num_media_tokens=K, modality="pcl")
    assert "<Pcl>" in tok.decode(e.input_ids)
    out = model(torch.tensor([e.input_ids]), labels=torch.tensor([e.labels]), media=torch.rand(1, 256, 3))
    out.loss.backward()
    assert torch.isfinite(out.loss) and model.projector.weight.grad.abs().sum() > 0


def test_build_tiny_defaults_load_through_from_pretrained(tmp_path):
    import time

    from lamm.model.config import ModelConfig
    from lamm.model.tiny import build_tiny

    t0 = time.perf_counter()
    cfg = build_tiny(tmp_path / "tiny", ["a cat on a mat", "three dogs"] * 10, seed=3)
    built = time.perf_counter() - t0
    assert built < 30  # ~0.5 s normally; generous for a shared machine
    assert (tmp_path / "tiny" / "llm" / "model.safetensors").is_file()
    assert (tmp_path / "tiny" / "clip" / "model.safetensors").is_file()
    cfg = ModelConfig.from_dict(cfg.to_dict())  # JSON-able round trip
    assert cfg.num_media_tokens == 64 and cfg.lora is None and not cfg.freeze_encoder
    model, tok = build_model(cfg)
    assert model.base_llm.config.hidden_size == 256 and model.base_llm.config.num_hidden_layers == 2
    assert model.encoder.hidden_size == 128 and model.encoder.image_size == 64
    assert all(p.requires_grad for p in model.parameters())  # full FT, encoder trainable
    assert model.media_token_id == tok.convert_tokens_to_ids("<media>") < model.base_llm.config.vocab_size


def test_compile_layers_keeps_keys_loss_and_gradients():
    """``train.compile``: each decoder layer compiled in place; same state-dict keys, loss and gradients."""
    torch.manual_seed(0)
    model, tok = build_model(tiny_config(lora=True))
    model.eval()
    e = encode(tok, CONVS[0])
    ids, labels, media = torch.tensor([e.input_ids]), torch.tensor([e.labels]), torch.randn(1, 3, 32, 32)
    ref = model(ids, labels=labels, media=media).loss
    ref.backward()
    g_ref = {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}
    keys = list(model.state_dict())
    model.zero_grad()
    n_layers = model.base_llm.config.num_hidden_layers
    assert model.compile_layers() == n_layers
    assert list(model.state_dict()) == keys
    loss = model(ids, labels=labels, media=media).loss
    loss.backward()
    torch.testing.assert_close(loss, ref, rtol=1e-4, atol=1e-5)
    for n, g in g_ref.items():
        torch.testing.assert_close(dict(model.named_parameters())[n].grad, g, rtol=1e-3, atol=1e-5)


@pytest.mark.parametrize("attn", ["sdpa", "eager"])
def test_loss_only_forward_equals_full_logits(attn):
    """Training's ``return_logits=False`` runs the LM head on the labelled positions only: same loss,
    token count and gradients as the full-logits forward (packed row with a 4D mask, and padded rows)."""
    torch.manual_seed(0)
    model, tok = build_model(tiny_config(attn_implementation=attn))
    model.train()
    a, b = (encode(tok, c) for c in CONVS)
    media = torch.randn(2, 3, 32, 32)
    ids = torch.tensor([a.input_ids + b.input_ids + [tok.pad_token_id] * 3])
    labels = torch.tensor([a.labels + b.labels + [IGNORE_INDEX] * 3])
    seg = torch.tensor([[0] * len(a) + [1] * len(b) + [2] * 3])
    pos = torch.tensor([list(range(len(a))) + list(range(len(b))) + list(range(3))])
    kw = {"labels": labels, "attention_mask": block_causal_mask(seg), "position_ids": pos, "media": media}
    params = [p for p in model.parameters() if p.requires_grad]
    grads = []
    for return_logits in (True, False):
        torch.manual_seed(1)  # same dropout draws, if any
        out = model(ids, return_logits=return_logits, **kw)
        model.zero_grad()
        (out.loss * out.num_loss_tokens).backward()
        grads.append([None if p.grad is None else p.grad.clone() for p in params])
        if return_logits:
            full = out
        else:
            assert out.logits is None
            torch.testing.assert_close(out.loss, full.loss, atol=1e-6, rtol=1e-6)
            assert int(out.num_loss_tokens) == int(full.num_loss_tokens) == int((labels[:, 1:] != -100).sum())
    assert sum(g is not None for g in grads[0]) > 10  # the LLM, projector and encoder all got gradients
    for g_full, g_fast in zip(*grads):
        assert (g_full is None) == (g_fast is None)
        if g_full is not None:
            torch.testing.assert_close(g_fast, g_full, atol=1e-6, rtol=1e-5)
