#!/usr/bin/python3
"""Golden-file generator for relora-go.

Produces, next to this script:
  llama_tiny.safetensors  -- a tiny LLaMA: weights, logits, loss, gradients,
                             3 AdamW steps with grad clipping.
  ops.safetensors         -- per-op forward/backward checks (RMSNorm, RoPE,
                             causal attention, SwiGLU, cross-entropy).

Plain PyTorch only (no transformers, no safetensors package); the safetensors
files are written by hand. Run with Debian's python:  /usr/bin/python3 gen_llama.py
See README.md in this directory for the layout of every tensor.
"""
import json
import math
import os
import struct
import sys

import numpy as np
import torch
import torch.nn.functional as F

torch.set_default_dtype(torch.float32)
torch.set_num_threads(1)
torch.use_deterministic_algorithms(True)

HERE = os.path.dirname(os.path.abspath(__file__))

# ---------------------------------------------------------------- config
VOCAB = 256
D = 64
LAYERS = 2
HEADS = 4
HEAD_DIM = D // HEADS  # 16
FFN = 172
T = 16
B = 2
EPS = 1e-6
ROPE_BASE = 10000.0
INIT_STD = 0.02
NORM_INIT_STD = 0.1  # RMSNorm weights drawn as 1 + 0.1*N(0,1)
WEIGHT_SEED = 1234
IDS_SEED = 4321
OPS_SEED = 2024

LR = 1e-2
BETAS = (0.9, 0.95)
ADAM_EPS = 1e-8
WEIGHT_DECAY = 0.1
STEPS = 3
MAX_NORM = 1.0


# ---------------------------------------------------------------- safetensors writer
def write_safetensors(path, tensors, metadata=None):
    """tensors: list of (name, torch.Tensor) in the order to store them."""
    header = {}
    if metadata:
        header["__metadata__"] = {k: str(v) for k, v in metadata.items()}
    blobs = []
    offset = 0
    for name, t in tensors:
        t = t.detach().contiguous().cpu()
        if t.dtype == torch.float32:
            dtype, arr = "F32", t.numpy().astype("<f4")
        elif t.dtype in (torch.int32, torch.int64):
            dtype, arr = "I32", t.numpy().astype("<i4")
        else:
            raise ValueError(f"{name}: unsupported dtype {t.dtype}")
        raw = arr.tobytes(order="C")
        header[name] = {
            "dtype": dtype,
            "shape": list(t.shape),
            "data_offsets": [offset, offset + len(raw)],
        }
        blobs.append(raw)
        offset += len(raw)
    hjson = json.dumps(header, separators=(",", ":")).encode("utf-8")
    hjson += b" " * ((-len(hjson)) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(hjson)))
        f.write(hjson)
        for raw in blobs:
            f.write(raw)


def read_safetensors(path):
    """Minimal reader used to round-trip check the writer."""
    with open(path, "rb") as f:
        buf = f.read()
    (n,) = struct.unpack("<Q", buf[:8])
    header = json.loads(buf[8:8 + n].decode("utf-8"))
    data = buf[8 + n:]
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        a, b = info["data_offsets"]
        dt = {"F32": "<f4", "I32": "<i4"}[info["dtype"]]
        out[name] = np.frombuffer(data[a:b], dtype=dt).reshape(info["shape"])
    return out


def check_roundtrip(path, tensors):
    back = read_safetensors(path)
    assert list(back.keys()) == [n for n, _ in tensors], "key order mismatch"
    for name, t in tensors:
        ref = t.detach().cpu().numpy()
        got = back[name]
        assert got.shape == ref.shape, (name, got.shape, ref.shape)
        assert np.array_equal(got, ref.astype(got.dtype)), name


# ---------------------------------------------------------------- ops
def rmsnorm(x, w):
    x = x.float()
    return x * torch.rsqrt(x.pow(2).mean(dim=-1, keepdim=True) + EPS) * w


def rope_cos_sin(seq_len, hd):
    """cos/sin of shape [seq_len, hd], halves repeated ([c_0..c_{hd/2-1}, c_0..])."""
    i = torch.arange(0, hd // 2, dtype=torch.float32)
    inv_freq = 1.0 / (ROPE_BASE ** (2.0 * i / hd))
    t = torch.arange(seq_len, dtype=torch.float32)
    ang = torch.outer(t, inv_freq)  # [T, hd/2]
    emb = torch.cat([ang, ang], dim=-1)  # [T, hd]
    return emb.cos(), emb.sin()


def rotate_half(x):
    h = x.shape[-1] // 2
    return torch.cat([-x[..., h:], x[..., :h]], dim=-1)


def apply_rope(x, cos, sin):
    """x: [..., T, H, hd]; cos/sin: [T, hd]."""
    c = cos[:, None, :]
    s = sin[:, None, :]
    return x * c + rotate_half(x) * s


def causal_attention(q, k, v):
    """q,k,v: [..., T, H, hd] -> out [..., T, H, hd] (heads not yet merged)."""
    hd = q.shape[-1]
    tlen = q.shape[-3]
    qh = q.transpose(-3, -2)  # [..., H, T, hd]
    kh = k.transpose(-3, -2)
    vh = v.transpose(-3, -2)
    scores = (qh @ kh.transpose(-1, -2)) / math.sqrt(hd)  # [..., H, T, T]
    mask = torch.ones(tlen, tlen, dtype=torch.bool).triu(1)  # True above diagonal
    scores = scores.float().masked_fill(mask, float("-inf"))
    p = torch.softmax(scores, dim=-1)
    out = p @ vh  # [..., H, T, hd]
    return out.transpose(-3, -2)


def swiglu(g, u):
    return F.silu(g) * u


# ---------------------------------------------------------------- model
def param_shapes():
    shapes = [("model.embed_tokens.weight", (VOCAB, D))]
    for i in range(LAYERS):
        p = f"model.layers.{i}."
        shapes += [
            (p + "self_attn.q_proj.weight", (D, D)),
            (p + "self_attn.k_proj.weight", (D, D)),
            (p + "self_attn.v_proj.weight", (D, D)),
            (p + "self_attn.o_proj.weight", (D, D)),
            (p + "mlp.gate_proj.weight", (FFN, D)),
            (p + "mlp.up_proj.weight", (FFN, D)),
            (p + "mlp.down_proj.weight", (D, FFN)),
            (p + "input_layernorm.weight", (D,)),
            (p + "post_attention_layernorm.weight", (D,)),
        ]
    shapes += [("model.norm.weight", (D,)), ("lm_head.weight", (VOCAB, D))]
    return shapes


def init_params():
    """Draws weights from one generator in param_shapes() order."""
    torch.manual_seed(WEIGHT_SEED)
    params = {}
    for name, shape in param_shapes():
        if len(shape) == 1:  # RMSNorm weight
            w = 1.0 + NORM_INIT_STD * torch.randn(shape)
        else:
            w = torch.randn(shape) * INIT_STD
        params[name] = torch.nn.Parameter(w.float())
    return params


def forward(params, ids):
    """ids: [B, T+1] int64. Returns (logits [B, T, V], loss scalar)."""
    inp = ids[:, :-1]
    tgt = ids[:, 1:]
    bsz, tlen = inp.shape
    cos, sin = rope_cos_sin(tlen, HEAD_DIM)
    h = params["model.embed_tokens.weight"][inp]  # [B, T, D]
    for i in range(LAYERS):
        p = f"model.layers.{i}."
        x = rmsnorm(h, params[p + "input_layernorm.weight"])
        q = (x @ params[p + "self_attn.q_proj.weight"].t()).view(bsz, tlen, HEADS, HEAD_DIM)
        k = (x @ params[p + "self_attn.k_proj.weight"].t()).view(bsz, tlen, HEADS, HEAD_DIM)
        v = (x @ params[p + "self_attn.v_proj.weight"].t()).view(bsz, tlen, HEADS, HEAD_DIM)
        q = apply_rope(q, cos, sin)
        k = apply_rope(k, cos, sin)
        a = causal_attention(q, k, v).reshape(bsz, tlen, D)
        h = h + a @ params[p + "self_attn.o_proj.weight"].t()
        x = rmsnorm(h, params[p + "post_attention_layernorm.weight"])
        g = x @ params[p + "mlp.gate_proj.weight"].t()
        u = x @ params[p + "mlp.up_proj.weight"].t()
        h = h + swiglu(g, u) @ params[p + "mlp.down_proj.weight"].t()
    h = rmsnorm(h, params["model.norm.weight"])
    logits = h @ params["lm_head.weight"].t()
    loss = F.cross_entropy(logits.reshape(-1, VOCAB), tgt.reshape(-1))
    return logits, loss


def gen_llama():
    names = [n for n, _ in param_shapes()]
    params = init_params()
    plist = [params[n] for n in names]
    init = {n: params[n].detach().clone() for n in names}

    g = torch.Generator().manual_seed(IDS_SEED)
    ids = torch.randint(0, VOCAB, (B, T + 1), generator=g, dtype=torch.int64)

    logits, loss = forward(params, ids)
    loss.backward()
    grads0 = {n: params[n].grad.detach().clone() for n in names}
    print(f"initial loss          = {loss.item():.8f}  (ln V = {math.log(VOCAB):.8f})")

    # --- 3 AdamW steps, same batch
    max_norm = MAX_NORM
    for attempt in range(2):
        for n in names:
            params[n].data.copy_(init[n])
            params[n].grad = None
        opt = torch.optim.AdamW(plist, lr=LR, betas=BETAS, eps=ADAM_EPS,
                                weight_decay=WEIGHT_DECAY)
        step_losses, grad_norms = [], []
        for step in range(STEPS):
            opt.zero_grad()
            _, l = forward(params, ids)
            l.backward()
            gn = torch.nn.utils.clip_grad_norm_(plist, max_norm=max_norm)
            opt.step()
            step_losses.append(l.item())
            grad_norms.append(gn.item())
            print(f"step {step + 1}: loss = {l.item():.8f}  pre-clip grad norm = {gn.item():.8f}"
                  f"  clipped = {gn.item() > max_norm}")
        if grad_norms[0] > max_norm:
            break
        print(f"pre-clip norm at step 1 ({grad_norms[0]:.6f}) <= max_norm {max_norm}; retrying with 0.5")
        max_norm = 0.5
    assert grad_norms[0] > max_norm, "clip not active at step 1"
    print(f"max_norm used         = {max_norm}")

    tensors = [("input_ids", ids.to(torch.int32))]
    tensors += [(n, init[n]) for n in names]
    tensors += [("logits", logits.detach()), ("loss", loss.detach().reshape(1))]
    tensors += [("grad." + n, grads0[n]) for n in names]
    tensors += [
        ("grad_norm", torch.tensor(grad_norms, dtype=torch.float32)),
        ("step_losses", torch.tensor(step_losses, dtype=torch.float32)),
        ("max_norm", torch.tensor([max_norm], dtype=torch.float32)),
    ]
    tensors += [("after3." + n, params[n].detach().clone()) for n in names]

    meta = {
        "vocab": VOCAB, "d": D, "layers": LAYERS, "heads": HEADS, "head_dim": HEAD_DIM,
        "ffn": FFN, "seq": T, "batch": B, "rms_eps": EPS, "rope_base": ROPE_BASE,
        "lr": LR, "beta1": BETAS[0], "beta2": BETAS[1], "adam_eps": ADAM_EPS,
        "weight_decay": WEIGHT_DECAY, "steps": STEPS, "max_norm": max_norm,
        "weight_seed": WEIGHT_SEED, "ids_seed": IDS_SEED, "torch": torch.__version__,
    }
    path = os.path.join(HERE, "llama_tiny.safetensors")
    write_safetensors(path, tensors, meta)
    check_roundtrip(path, tensors)
    print(f"wrote {path} ({os.path.getsize(path)} bytes, {len(tensors)} tensors)")


# ---------------------------------------------------------------- per-op file
def leaf(*shape, gen):
    return torch.randn(*shape, generator=gen).requires_grad_(True)


def gen_ops():
    gen = torch.Generator().manual_seed(OPS_SEED)
    out = []

    # RMSNorm over last dim, x [3,8], w [8]
    x = leaf(3, 8, gen=gen)
    w = (1.0 + 0.1 * torch.randn(8, generator=gen)).requires_grad_(True)
    dy = torch.randn(3, 8, generator=gen)
    y = rmsnorm(x, w)
    y.backward(dy)
    out += [("rmsnorm.x", x), ("rmsnorm.w", w), ("rmsnorm.dy", dy), ("rmsnorm.y", y),
            ("rmsnorm.dx", x.grad), ("rmsnorm.dw", w.grad)]

    # RoPE on x [T=5, H=2, hd=8], positions 0..4
    x = leaf(5, 2, 8, gen=gen)
    dy = torch.randn(5, 2, 8, generator=gen)
    cos, sin = rope_cos_sin(5, 8)
    y = apply_rope(x, cos, sin)
    y.backward(dy)
    out += [("rope.x", x), ("rope.dy", dy), ("rope.y", y), ("rope.dx", x.grad),
            ("rope.cos", cos), ("rope.sin", sin)]

    # causal attention, q,k,v [T=6, H=2, hd=4], no RoPE, scale 1/sqrt(4)
    q = leaf(6, 2, 4, gen=gen)
    k = leaf(6, 2, 4, gen=gen)
    v = leaf(6, 2, 4, gen=gen)
    dy = torch.randn(6, 2, 4, generator=gen)
    y = causal_attention(q, k, v)
    y.backward(dy)
    out += [("attn.q", q), ("attn.k", k), ("attn.v", v), ("attn.dy", dy), ("attn.y", y),
            ("attn.dq", q.grad), ("attn.dk", k.grad), ("attn.dv", v.grad)]

    # SwiGLU silu(g) * u on [4,6]
    g = leaf(4, 6, gen=gen)
    u = leaf(4, 6, gen=gen)
    dy = torch.randn(4, 6, generator=gen)
    y = swiglu(g, u)
    y.backward(dy)
    out += [("swiglu.g", g), ("swiglu.u", u), ("swiglu.dy", dy), ("swiglu.y", y),
            ("swiglu.dg", g.grad), ("swiglu.du", u.grad)]

    # mean cross-entropy over logits [5,7], targets [5]
    logits = leaf(5, 7, gen=gen)
    tgt = torch.randint(0, 7, (5,), generator=gen, dtype=torch.int64)
    loss = F.cross_entropy(logits, tgt)
    loss.backward()
    out += [("ce.logits", logits), ("ce.targets", tgt.to(torch.int32)),
            ("ce.loss", loss.reshape(1)), ("ce.dlogits", logits.grad)]

    out = [(n, t.detach().clone()) for n, t in out]
    path = os.path.join(HERE, "ops.safetensors")
    write_safetensors(path, out, {"seed": OPS_SEED, "rms_eps": EPS, "rope_base": ROPE_BASE,
                                  "torch": torch.__version__})
    check_roundtrip(path, out)
    print(f"ce.loss               = {out[[n for n, _ in out].index('ce.loss')][1].item():.8f}")
    print(f"wrote {path} ({os.path.getsize(path)} bytes, {len(out)} tensors)")


if __name__ == "__main__":
    print(f"torch {torch.__version__}, python {sys.version.split()[0]}")
    gen_llama()
    gen_ops()
