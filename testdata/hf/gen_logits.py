#!/usr/bin/python3
"""Golden logits for a Hugging Face LLaMA directory, independent of relora-go.

Usage: /usr/bin/python3 gen_logits.py MODEL_DIR '[ids...]' OUT.json

Reads MODEL_DIR/config.json (LlamaConfig names) and MODEL_DIR/model.safetensors
(parsed here by hand: F32, BF16, F16), runs the LLaMA forward pass (RMSNorm,
rotate-half RoPE with base rope_theta, causal softmax attention, SwiGLU MLP,
untied or tied head) in plain PyTorch in float64, and writes
{"input_ids": [...], "logits": [[...] per position]} to OUT.json.
No transformers and no safetensors package are needed.
"""
import json
import math
import struct
import sys

import torch

torch.set_default_dtype(torch.float64)


def read_safetensors(path):
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
        raw = bytearray(data[a:b])
        dt = info["dtype"]
        if dt == "F32":
            t = torch.frombuffer(raw, dtype=torch.float32)
        elif dt == "BF16":
            t = torch.frombuffer(raw, dtype=torch.bfloat16)
        elif dt == "F16":
            t = torch.frombuffer(raw, dtype=torch.float16)
        else:
            raise SystemExit(f"{path}: tensor {name}: dtype {dt} not supported")
        out[name] = t.to(torch.float64).reshape(info["shape"])
    return out


def main():
    model_dir, ids_json, out_path = sys.argv[1], sys.argv[2], sys.argv[3]
    with open(f"{model_dir}/config.json") as f:
        cfg = json.load(f)
    w = read_safetensors(f"{model_dir}/model.safetensors")
    d = cfg["hidden_size"]
    heads = cfg["num_attention_heads"]
    assert cfg.get("num_key_value_heads", heads) == heads
    hd = d // heads
    layers = cfg["num_hidden_layers"]
    eps = cfg.get("rms_norm_eps", 1e-6)
    theta = cfg.get("rope_theta", 10000.0)
    ids = torch.tensor(json.loads(ids_json), dtype=torch.long)
    T = ids.shape[0]

    def rmsnorm(x, g):
        return x / torch.sqrt(x.pow(2).mean(-1, keepdim=True) + eps) * g

    inv = 1.0 / theta ** (torch.arange(0, hd // 2, dtype=torch.float64) * 2.0 / hd)
    ang = torch.outer(torch.arange(T, dtype=torch.float64), inv)
    cos = torch.cat([ang, ang], -1).cos()[:, None, :]
    sin = torch.cat([ang, ang], -1).sin()[:, None, :]

    def rope(x):  # x [T, H, hd]
        x1, x2 = x[..., : hd // 2], x[..., hd // 2:]
        return x * cos + torch.cat([-x2, x1], -1) * sin

    mask = torch.full((T, T), float("-inf")).triu(1)
    h = w["model.embed_tokens.weight"][ids]
    for l in range(layers):
        p = f"model.layers.{l}."
        x = rmsnorm(h, w[p + "input_layernorm.weight"])
        q = rope((x @ w[p + "self_attn.q_proj.weight"].T).view(T, heads, hd)).transpose(0, 1)
        k = rope((x @ w[p + "self_attn.k_proj.weight"].T).view(T, heads, hd)).transpose(0, 1)
        v = (x @ w[p + "self_attn.v_proj.weight"].T).view(T, heads, hd).transpose(0, 1)
        s = q @ k.transpose(-1, -2) / math.sqrt(hd) + mask
        a = (torch.softmax(s, -1) @ v).transpose(0, 1).reshape(T, d)
        h = h + a @ w[p + "self_attn.o_proj.weight"].T
        x = rmsnorm(h, w[p + "post_attention_layernorm.weight"])
        g = x @ w[p + "mlp.gate_proj.weight"].T
        u = x @ w[p + "mlp.up_proj.weight"].T
        h = h + (torch.nn.functional.silu(g) * u) @ w[p + "mlp.down_proj.weight"].T
    h = rmsnorm(h, w["model.norm.weight"])
    head = w.get("lm_head.weight")
    if head is None:
        assert cfg.get("tie_word_embeddings", False), "no lm_head.weight and not tied"
        head = w["model.embed_tokens.weight"]
    logits = h @ head.T
    with open(out_path, "w") as f:
        json.dump({"input_ids": ids.tolist(),
                   "logits": [[float("%.9g" % v) for v in row] for row in logits.tolist()]}, f)
        f.write("\n")


if __name__ == "__main__":
    main()
