# A tiny PyTorch re-implementation of transformers' Qwen3, Gemma2, Gemma3 (text), Phi3, Mistral and Qwen2
# (sliding windows) decoders and their heads (ForCausalLM, GenericForSequenceClassification,
# GenericForTokenClassification), written from modeling_qwen3.py, modeling_gemma2.py, modeling_gemma3.py,
# modeling_phi3.py, masking_utils.py (sliding_window_overlay: kv_idx > q_idx - sliding_window) and
# modeling_rope_utils.py (longrope). Used by decoders.torch.test.ts as an independent numeric reference;
# needs only torch. File I/O and PEFT LoRA come from torch_decoder_reference.py.
# Usage: python3 torch_decoder2_reference.py CASE_DIR...  (same layout as torch_decoder_reference.py;
# case.json {"task"}; writes torch_out.safetensors with logits, loss, grad.<name>).

import json
import math
import os
import sys

import torch
import torch.nn.functional as Fn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from torch_decoder_reference import Params, read_safetensors, rotate_half, write_safetensors  # noqa: E402

ACT = {"silu": Fn.silu, "gelu_pytorch_tanh": lambda x: Fn.gelu(x, approximate="tanh"), "gelu": Fn.gelu}
MIN = torch.finfo(torch.float32).min


def rms(x, w, eps, one_plus):
    y = x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps)
    return y * (1.0 + w) if one_plus else w * y


def inv_freq(base, dim, factors=None):
    p = base ** (torch.arange(0, dim, 2, dtype=torch.int64).float() / dim)
    if factors is not None:
        p = torch.tensor(factors, dtype=torch.float32) * p
    return 1.0 / p


def layer_types(cfg):
    mt, n = cfg["model_type"], cfg["num_hidden_layers"]
    if cfg.get("layer_types"):
        return cfg["layer_types"]
    if mt in ("qwen3", "qwen2"):
        sw = cfg.get("sliding_window") if cfg.get("use_sliding_window") else None
        return ["sliding_attention" if sw is not None and i >= cfg["max_window_layers"] else "full_attention" for i in range(n)]
    if mt == "gemma2":
        return ["sliding_attention" if (i + 1) % 2 else "full_attention" for i in range(n)]
    if mt == "gemma3_text":
        p = cfg.get("sliding_window_pattern", 6)
        return ["sliding_attention" if (i + 1) % p else "full_attention" for i in range(n)]
    return ["sliding_attention" if cfg.get("sliding_window") is not None else "full_attention"] * n  # mistral, phi3


def ropes(cfg, D, T):
    """(cos, sin) per layer type for positions 0..T-1, and the rotary dim."""
    mt = cfg["model_type"]
    pos = torch.arange(T).float()
    factor = 1.0
    rot = D
    if mt == "phi3":
        rot = int(D * cfg.get("partial_rotary_factor", 1.0))
        rs = cfg.get("rope_scaling")
        if rs:
            orig = cfg["original_max_position_embeddings"]
            s = cfg["max_position_embeddings"] / orig
            factor = 1.0 if s <= 1.0 else math.sqrt(1 + math.log(s) / math.log(orig))
            ext = rs["long_factor"] if T > orig else rs["short_factor"]  # max(position_ids) + 1 = T
            full = inv_freq(cfg["rope_theta"], rot, ext)
        else:
            full = inv_freq(cfg["rope_theta"], rot)
        local = full
    elif mt == "gemma3_text":
        full = inv_freq(cfg["rope_theta"], D)
        rs = cfg.get("rope_scaling")
        if rs and rs.get("rope_type") == "linear":
            full = full / rs["factor"]
        local = inv_freq(cfg["rope_local_base_freq"], D)
    else:
        full = local = inv_freq(cfg["rope_theta"], D)
    out = {}
    for name, inv in (("full_attention", full), ("sliding_attention", local)):
        e = torch.cat((pos[:, None] * inv[None], pos[:, None] * inv[None]), dim=-1)
        out[name] = ((e.cos() * factor)[None, None], (e.sin() * factor)[None, None])
    return out, rot


def rope_apply(x, cos, sin, rot):
    xr, xp = x[..., :rot], x[..., rot:]
    return torch.cat([xr * cos + rotate_half(xr) * sin, xp], dim=-1)


def mask_for(mask, T, window):
    q = torch.arange(T)[:, None]
    k = torch.arange(T)[None, :]
    allowed = k <= q
    if window is not None:
        allowed = allowed & (k > q - window)
    allowed = allowed[None, None] & (mask[:, None, None, :] == 1)
    return torch.where(allowed, 0.0, MIN)


def hidden_states(P, cfg, ids, mask):
    mt = cfg["model_type"]
    B, T = ids.shape
    C, H = cfg["hidden_size"], cfg["num_attention_heads"]
    Hkv = cfg.get("num_key_value_heads") or H
    D = cfg.get("head_dim") or C // H
    eps = cfg["rms_norm_eps"]
    gemma = mt in ("gemma2", "gemma3_text")
    qk_norm = mt in ("qwen3", "gemma3_text")
    act = ACT[cfg.get("hidden_activation") or cfg.get("hidden_act")]
    scaling = cfg["query_pre_attn_scalar"] ** -0.5 if gemma else D**-0.5
    softcap = cfg.get("attn_logit_softcapping") if gemma else None
    emb = P.get("model.embed_tokens.weight")
    pad = cfg.get("pad_token_id")
    if pad is not None:
        emb = torch.cat([emb[:pad], emb[pad : pad + 1].detach(), emb[pad + 1 :]])
    h = emb[ids]
    if gemma:
        h = h * torch.tensor(C**0.5, dtype=h.dtype)
    cs, rot = ropes(cfg, D, T)
    types = layer_types(cfg)
    sw = cfg.get("sliding_window")
    norm = lambda x, n: rms(x, P.get(n + ".weight"), eps, gemma)
    for l in range(cfg["num_hidden_layers"]):
        p = f"model.layers.{l}."
        x = norm(h, p + "input_layernorm")
        if mt == "phi3":
            qkv = P.linear(x, p + "self_attn.qkv_proj")
            q, k, v = qkv[..., : H * D], qkv[..., H * D : (H + Hkv) * D], qkv[..., (H + Hkv) * D :]
        else:
            q, k, v = (P.linear(x, p + "self_attn." + n) for n in ("q_proj", "k_proj", "v_proj"))
        q, k, v = q.view(B, T, H, D), k.view(B, T, Hkv, D), v.view(B, T, Hkv, D)
        if qk_norm:
            q, k = norm(q, p + "self_attn.q_norm"), norm(k, p + "self_attn.k_norm")
        q, k, v = q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2)
        cos, sin = cs[types[l]]
        q, k = rope_apply(q, cos, sin, rot), rope_apply(k, cos, sin, rot)
        k, v = k.repeat_interleave(H // Hkv, dim=1), v.repeat_interleave(H // Hkv, dim=1)
        s = q @ k.transpose(-1, -2) * scaling
        if softcap is not None:
            s = torch.tanh(s / softcap) * softcap
        s = s + mask_for(mask, T, sw if types[l] == "sliding_attention" else None)
        o = (torch.softmax(s, dim=-1) @ v).transpose(1, 2).reshape(B, T, H * D)
        a = P.linear(o, p + "self_attn.o_proj")
        if gemma:
            h = h + norm(a, p + "post_attention_layernorm")
            x = norm(h, p + "pre_feedforward_layernorm")
        else:
            h = h + a
            x = norm(h, p + "post_attention_layernorm")
        if mt == "phi3":
            gate, up = P.linear(x, p + "mlp.gate_up_proj").chunk(2, dim=-1)
            m = P.linear(up * act(gate), p + "mlp.down_proj")
        else:
            m = P.linear(act(P.linear(x, p + "mlp.gate_proj")) * P.linear(x, p + "mlp.up_proj"), p + "mlp.down_proj")
        h = h + (norm(m, p + "post_feedforward_layernorm") if gemma else m)
    return norm(h, "model.norm")


def run(case_dir):
    cfg = json.load(open(os.path.join(case_dir, "config.json")))
    case = json.load(open(os.path.join(case_dir, "case.json")))
    adapter = os.path.join(case_dir, "adapter")
    P = Params(read_safetensors(os.path.join(case_dir, "model.safetensors")), adapter if os.path.isdir(adapter) else None)
    inp = read_safetensors(os.path.join(case_dir, "inputs.safetensors"))
    ids, mask, labels = inp["input_ids"], inp["attention_mask"], inp["labels"]
    hidden = hidden_states(P, cfg, ids, mask)
    task = case["task"]
    if task == "text-generation":
        head = P.get("lm_head.weight") if P.has("lm_head.weight") else P.get("model.embed_tokens.weight")
        logits = hidden @ head.T
        cap = cfg.get("final_logit_softcapping") if cfg["model_type"] in ("gemma2", "gemma3_text") else None
        if cap is not None:
            logits = torch.tanh(logits / cap) * cap
        shift = Fn.pad(labels, (0, 1), value=-100)[:, 1:]
        loss = Fn.cross_entropy(logits.reshape(-1, logits.shape[-1]), shift.reshape(-1), ignore_index=-100)
    elif task == "token-classification":
        logits = P.linear(hidden, "score")
        loss = Fn.cross_entropy(logits.reshape(-1, logits.shape[-1]), labels.reshape(-1), ignore_index=-100)
    else:
        scores = P.linear(hidden, "score")
        non_pad = (ids != cfg["pad_token_id"]).int()
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
