# A tiny PyTorch re-implementation of transformers' decoder models (GPT2LMHeadModel /
# GPT2ForSequenceClassification from modeling_gpt2.py; Llama/Mistral/Qwen2 ForCausalLM and
# ForSequenceClassification from modeling_llama.py / modeling_qwen2.py with rope utils) and of PEFT's
# LoRA (result + lora_B(lora_A(x)) * alpha / r), used by llama.torch.test.ts as an independent numeric
# reference. Needs only torch (no transformers, no peft).
# Usage: python3 torch_decoder_reference.py CASE_DIR...  Each CASE_DIR holds config.json,
# model.safetensors, inputs.safetensors, case.json {"task"} and optionally adapter/ (PEFT layout);
# writes torch_out.safetensors (logits, loss, grad.<parameter or PEFT key>).

import json
import math
import os
import struct
import sys

import torch
import torch.nn.functional as Fn

DTYPES = {"F32": torch.float32, "I64": torch.int64, "I32": torch.int32}
ACT = {"gelu_new": lambda x: Fn.gelu(x, approximate="tanh"), "silu": Fn.silu, "gelu": Fn.gelu, "relu": Fn.relu}


def read_safetensors(path):
    raw = open(path, "rb").read()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8 : 8 + n])
    out = {}
    for name, meta in header.items():
        if name == "__metadata__":
            continue
        s, e = meta["data_offsets"]
        buf = bytearray(raw[8 + n + s : 8 + n + e])
        out[name] = torch.frombuffer(buf, dtype=DTYPES[meta["dtype"]]).reshape(meta["shape"]).clone()
    return out


def write_safetensors(path, tensors):
    header, chunks, offset = {}, [], 0
    for name, t in tensors.items():
        b = t.detach().to(torch.float32).contiguous().numpy().tobytes()
        header[name] = {"dtype": "F32", "shape": list(t.shape), "data_offsets": [offset, offset + len(b)]}
        offset += len(b)
        chunks.append(b)
    h = json.dumps(header).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"".join(chunks))


class Params:
    """Checkpoint tensors as leaves, plus PEFT LoRA adapters on the targeted modules."""

    def __init__(self, weights, adapter_dir):
        self.w = {k: v.clone().requires_grad_(adapter_dir is None) for k, v in weights.items()}
        self.lora = {}
        if adapter_dir is not None:
            cfg = json.load(open(os.path.join(adapter_dir, "adapter_config.json")))
            scale = cfg["lora_alpha"] / (math.sqrt(cfg["r"]) if cfg.get("use_rslora") else cfg["r"])
            ad = read_safetensors(os.path.join(adapter_dir, "adapter_model.safetensors"))
            self.saved = {}
            for key, t in ad.items():
                assert key.startswith("base_model.model."), key
                path = key[len("base_model.model.") :]
                if ".lora_" not in path:  # modules_to_save: a trained copy of a base parameter
                    self.w[path] = t.clone().requires_grad_(True)
                    self.saved[key] = self.w[path]
                    continue
                module, which = path.rsplit(".lora_", 1)
                entry = self.lora.setdefault(module, {"scale": scale})
                entry[which[0]] = t.clone().requires_grad_(True)
                entry["key_" + which[0]] = key

    def get(self, name):
        return self.w[name]

    def has(self, name):
        return name in self.w

    def linear(self, x, module, conv1d=False):
        w, b = self.w[module + ".weight"], self.w.get(module + ".bias")
        y = x @ w if conv1d else x @ w.T
        if b is not None:
            y = y + b
        if module in self.lora:
            e = self.lora[module]
            y = y + (x @ e["A"].T) @ e["B"].T * e["scale"]
        return y

    def leaves(self):
        if not self.lora:
            return {k: v for k, v in self.w.items() if v.requires_grad}
        out = dict(self.saved)
        for e in self.lora.values():
            out[e["key_A"]] = e["A"]
            out[e["key_B"]] = e["B"]
        return out


def additive_mask(mask, T, causal=True):
    allowed = torch.ones(T, T, dtype=torch.bool).tril()[None, None] if causal else torch.ones(1, 1, T, T, dtype=torch.bool)
    allowed = allowed & (mask[:, None, None, :] == 1)
    return torch.where(allowed, 0.0, torch.finfo(torch.float32).min)


def attention(q, k, v, mask, scale):
    s = q @ k.transpose(-1, -2) * scale + additive_mask(mask, q.shape[2])
    return torch.softmax(s, dim=-1) @ v


def gpt2_hidden(P, cfg, ids, mask):
    B, T = ids.shape
    C, H = cfg["n_embd"], cfg["n_head"]
    D = C // H
    pre = "transformer."
    h = P.get(pre + "wte.weight")[ids] + P.get(pre + "wpe.weight")[torch.arange(T)][None]
    ln = lambda x, n: Fn.layer_norm(x, (C,), P.get(n + ".weight"), P.get(n + ".bias"), cfg.get("layer_norm_epsilon", 1e-5))
    act = ACT[cfg.get("activation_function", "gelu_new")]
    for l in range(cfg["n_layer"]):
        p = f"{pre}h.{l}."
        x = ln(h, p + "ln_1")
        q, k, v = P.linear(x, p + "attn.c_attn", conv1d=True).split(C, dim=2)
        heads = lambda t: t.view(B, T, H, D).transpose(1, 2)
        o = attention(heads(q), heads(k), heads(v), mask, 1 / math.sqrt(D)).transpose(1, 2).reshape(B, T, C)
        h = h + P.linear(o, p + "attn.c_proj", conv1d=True)
        x = ln(h, p + "ln_2")
        h = h + P.linear(act(P.linear(x, p + "mlp.c_fc", conv1d=True)), p + "mlp.c_proj", conv1d=True)
    return ln(h, pre + "ln_f")


def rope_inv_freq(cfg, D):
    base = cfg.get("rope_theta", 10000.0)
    inv = 1.0 / (base ** (torch.arange(0, D, 2, dtype=torch.int64).float() / D))
    rs = cfg.get("rope_scaling")
    if not rs:
        return inv
    if rs["rope_type"] == "linear":
        return inv / rs["factor"]
    factor, low, high, old = rs["factor"], rs["low_freq_factor"], rs["high_freq_factor"], rs["original_max_position_embeddings"]
    wavelen = 2 * math.pi / inv
    out = torch.where(wavelen > old / low, inv / factor, inv)
    smooth = (old / wavelen - low) / (high - low)
    smoothed = (1 - smooth) * out / factor + smooth * out
    medium = ~(wavelen < old / high) * ~(wavelen > old / low)
    return torch.where(medium, smoothed, out)


def rotate_half(x):
    h = x.shape[-1] // 2
    return torch.cat((-x[..., h:], x[..., :h]), dim=-1)


def rms(x, w, eps):
    return w * (x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps))


def llama_hidden(P, cfg, ids, mask):
    B, T = ids.shape
    C, H = cfg["hidden_size"], cfg["num_attention_heads"]
    Hkv = cfg.get("num_key_value_heads") or H
    D = cfg.get("head_dim") or C // H
    eps = cfg.get("rms_norm_eps", 1e-6)
    emb = P.get("model.embed_tokens.weight")
    pad = cfg.get("pad_token_id")
    if pad is not None:  # nn.Embedding(padding_idx): no gradient into the padding row
        emb = torch.cat([emb[:pad], emb[pad : pad + 1].detach(), emb[pad + 1 :]])
    h = emb[ids]
    freqs = torch.arange(T).float()[:, None] * rope_inv_freq(cfg, D)[None, :]
    e = torch.cat((freqs, freqs), dim=-1)
    cos, sin = e.cos()[None, None], e.sin()[None, None]
    act = ACT[cfg.get("hidden_act", "silu")]
    for l in range(cfg["num_hidden_layers"]):
        p = f"model.layers.{l}."
        x = rms(h, P.get(p + "input_layernorm.weight"), eps)
        q = P.linear(x, p + "self_attn.q_proj").view(B, T, H, D).transpose(1, 2)
        k = P.linear(x, p + "self_attn.k_proj").view(B, T, Hkv, D).transpose(1, 2)
        v = P.linear(x, p + "self_attn.v_proj").view(B, T, Hkv, D).transpose(1, 2)
        q, k = q * cos + rotate_half(q) * sin, k * cos + rotate_half(k) * sin
        k, v = k.repeat_interleave(H // Hkv, dim=1), v.repeat_interleave(H // Hkv, dim=1)
        o = attention(q, k, v, mask, D**-0.5).transpose(1, 2).reshape(B, T, H * D)
        h = h + P.linear(o, p + "self_attn.o_proj")
        x = rms(h, P.get(p + "post_attention_layernorm.weight"), eps)
        h = h + P.linear(act(P.linear(x, p + "mlp.gate_proj")) * P.linear(x, p + "mlp.up_proj"), p + "mlp.down_proj")
    return rms(h, P.get("model.norm.weight"), eps)


def run(case_dir):
    cfg = json.load(open(os.path.join(case_dir, "config.json")))
    case = json.load(open(os.path.join(case_dir, "case.json")))
    adapter = os.path.join(case_dir, "adapter")
    P = Params(read_safetensors(os.path.join(case_dir, "model.safetensors")), adapter if os.path.isdir(adapter) else None)
    inp = read_safetensors(os.path.join(case_dir, "inputs.safetensors"))
    ids, mask, labels = inp["input_ids"], inp["attention_mask"], inp["labels"]
    gpt2 = cfg["model_type"] == "gpt2"
    hidden = (gpt2_hidden if gpt2 else llama_hidden)(P, cfg, ids, mask)
    if case["task"] == "text-generation":
        if P.has("lm_head.weight"):
            head = P.get("lm_head.weight")
        else:
            head = P.get("transformer.wte.weight" if gpt2 else "model.embed_tokens.weight")
        logits = hidden @ head.T
        shift = Fn.pad(labels, (0, 1), value=-100)[:, 1:]
        loss = Fn.cross_entropy(logits.reshape(-1, logits.shape[-1]), shift.reshape(-1), ignore_index=-100)
    else:
        scores = P.linear(hidden, "score")
        pad = cfg["pad_token_id"]
        non_pad = (ids != pad).int()
        last = (torch.arange(ids.shape[-1]) * non_pad).argmax(-1)
        logits = scores[torch.arange(ids.shape[0]), last]
        loss = Fn.cross_entropy(logits, labels)
    loss.backward()
    out = {"logits": logits, "loss": loss.reshape(1)}
    for name, t in P.leaves().items():
        out["grad." + name] = t.grad if t.grad is not None else torch.zeros_like(t)
    write_safetensors(os.path.join(case_dir, "torch_out.safetensors"), out)


if __name__ == "__main__":
    torch.manual_seed(0)
    for d in sys.argv[1:]:
        run(d)
