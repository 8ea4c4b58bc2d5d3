#!/usr/bin/python3
"""Golden greedy generation of a model directory as Hugging Face transformers
would run it, independent of relora-go.

Usage: /usr/bin/python3 gen_generate.py MODEL_DIR PROMPT.json MAX_NEW_TOKENS OUT.json

PROMPT.json is {"text": ..., "ids": [...]}: the prompt and its BPE ids
without special tokens (the byte-level BPE itself is checked against
independent implementations elsewhere; transformers' tokenizers library is
not needed here). The script does what AutoTokenizer and
LlamaForCausalLM.generate(input_ids, do_sample=False, max_new_tokens=N) do
with the directory's files, reading every setting from them:

  * tokenizer_config.json must name PreTrainedTokenizerFast (which runs
    tokenizer.json as it is); tokenizer.json's post_processor (a
    TemplateProcessing) turns the ids into input_ids ("single" template);
  * config.json + model.safetensors: the LLaMA forward pass (RMSNorm,
    rotate-half RoPE, causal attention, SwiGLU, untied head) in float64
    PyTorch, recomputed over the whole sequence at every step;
  * generation_config.json: greedy (do_sample false), stopping after the
    first token in eos_token_id (which transformers keeps in the output).

It writes the input_ids, the generated ids, whether generation stopped at
an end-of-sequence token, the smallest gap between the best and the
second-best logit (float32 arithmetic must not flip an argmax), and the
sha256 of every file it read.
"""
import hashlib
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
        assert info["dtype"] == "F32", f"{name}: dtype {info['dtype']}"
        t = torch.frombuffer(bytearray(data[a:b]), dtype=torch.float32)
        out[name] = t.to(torch.float64).reshape(info["shape"])
    return out


def forward(cfg, w, ids):
    d = cfg["hidden_size"]
    heads = cfg["num_attention_heads"]
    assert cfg.get("num_key_value_heads", heads) == heads
    hd = d // heads
    eps = cfg.get("rms_norm_eps", 1e-6)
    theta = cfg.get("rope_theta", 10000.0)
    ids = torch.tensor(ids, dtype=torch.long)
    T = ids.shape[0]

    def rmsnorm(x, g):
        return x / torch.sqrt(x.pow(2).mean(-1, keepdim=True) + eps) * g

    inv = 1.0 / theta ** (torch.arange(0, hd // 2, dtype=torch.float64) * 2.0 / hd)
    ang = torch.outer(torch.arange(T, dtype=torch.float64), inv)
    cos = torch.cat([ang, ang], -1).cos()[:, None, :]
    sin = torch.cat([ang, ang], -1).sin()[:, None, :]

    def rope(x):
        x1, x2 = x[..., : hd // 2], x[..., hd // 2:]
        return x * cos + torch.cat([-x2, x1], -1) * sin

    mask = torch.full((T, T), float("-inf")).triu(1)
    h = w["model.embed_tokens.weight"][ids]
    for l in range(cfg["num_hidden_layers"]):
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
    assert not cfg.get("tie_word_embeddings", False)
    return h @ w["lm_head.weight"].T


def apply_template(post, ids):
    """tokenizers' TemplateProcessing, "single" template, on one sequence."""
    assert post is not None and post["type"] == "TemplateProcessing", post
    out = []
    for piece in post["single"]:
        if "SpecialToken" in piece:
            out += post["special_tokens"][piece["SpecialToken"]["id"]]["ids"]
        else:
            assert piece["Sequence"]["id"] == "A"
            out += ids
    return out


def main():
    model_dir, prompt_path, max_new, out_path = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
    files = ["config.json", "generation_config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json"]
    sums = {}
    for name in files:
        with open(f"{model_dir}/{name}", "rb") as f:
            sums[name] = hashlib.sha256(f.read()).hexdigest()
    load = lambda name: json.load(open(f"{model_dir}/{name}"))
    cfg, gen, tok, tok_cfg = load("config.json"), load("generation_config.json"), load("tokenizer.json"), load("tokenizer_config.json")
    prompt = json.load(open(prompt_path))

    assert tok_cfg["tokenizer_class"] == "PreTrainedTokenizerFast", tok_cfg
    input_ids = apply_template(tok["post_processor"], prompt["ids"])
    # the token the template adds is the one the tokenizer config and the
    # model config call BOS
    bos = tok_cfg["bos_token"]
    bos_id = [t["id"] for t in tok["added_tokens"] if t["content"] == bos]
    assert input_ids[0] == bos_id[0] == cfg["bos_token_id"] == gen["bos_token_id"], (input_ids[:1], bos_id, cfg["bos_token_id"])
    assert tok_cfg.get("add_bos_token", True)

    assert not gen.get("do_sample", False)
    eos = gen["eos_token_id"]
    eos = set(eos if isinstance(eos, list) else [eos])
    assert cfg["eos_token_id"] in eos

    w = read_safetensors(f"{model_dir}/model.safetensors")
    ids = list(input_ids)
    generated, margins, stopped = [], [], False
    for _ in range(max_new):
        logits = forward(cfg, w, ids)[-1]
        top = torch.topk(logits, 2)
        margins.append(float(top.values[0] - top.values[1]))
        nxt = int(top.indices[0])
        ids.append(nxt)
        generated.append(nxt)
        if nxt in eos:
            stopped = True
            break
    with open(out_path, "w") as f:
        json.dump({"prompt": prompt["text"], "prompt_bpe_ids": prompt["ids"], "input_ids": input_ids,
                   "max_new_tokens": max_new, "generated": generated, "stopped_at_eos": stopped,
                   "min_logit_margin": float("%.6g" % min(margins)), "sha256": sums,
                   "made_by": "testdata/hf/gen_generate.py (PyTorch %s)" % torch.__version__}, f, indent=1)
        f.write("\n")


if __name__ == "__main__":
    main()
