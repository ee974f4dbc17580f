# ModernBERT for torch_encoders2_reference.py, re-implemented from transformers' modeling_modernbert.py
# (eager attention, padded): embeddings norm, layer 0 without attn_norm, fused Wqkv viewed (B, T, 3, H, D),
# RoPE with global_rope_theta / local_rope_theta, additive key mask and the local |i - j| <= local_attention//2
# window (masked_fill min on the global mask), GeGLU Wi chunk (input, gate), final_norm, prediction head,
# cls / mean pooling, the masked-LM decoder. Torch only.

import torch
import torch.nn.functional as Fn

ACT = {"gelu": Fn.gelu, "gelu_new": lambda x: Fn.gelu(x, approximate="tanh"), "silu": Fn.silu, "relu": Fn.relu}
MIN = torch.finfo(torch.float32).min


def rotate_half(x):
    h = x.shape[-1] // 2
    return torch.cat((-x[..., h:], x[..., :h]), dim=-1)


def modernbert_hidden(P, cfg, ids, mask):
    B, T = ids.shape
    C, H = cfg["hidden_size"], cfg["num_attention_heads"]
    D = C // H
    eps = cfg["norm_eps"]
    pre = "model." if P.has("model.embeddings.tok_embeddings.weight") else ""
    emb = P[pre + "embeddings.tok_embeddings.weight"]
    pad = cfg["pad_token_id"]
    emb = torch.cat([emb[:pad], emb[pad : pad + 1].detach(), emb[pad + 1 :]])
    h = P.ln(emb[ids], pre + "embeddings.norm", eps)
    glob = (1.0 - mask[:, None, None, :].float()).expand(B, 1, T, T) * MIN
    rows = torch.arange(T)[None]
    window = (torch.abs(rows - rows.T) <= cfg["local_attention"] // 2)[None, None]
    sliding = glob.masked_fill(~window, MIN)

    def rope(theta):
        inv = 1.0 / (theta ** (torch.arange(0, D, 2, dtype=torch.int64).float() / D))
        f = torch.arange(T).float()[:, None] * inv[None]
        e = torch.cat((f, f), dim=-1)
        return e.cos()[None, None], e.sin()[None, None]

    g_rope = rope(cfg["global_rope_theta"])
    lt = cfg.get("local_rope_theta")
    l_rope = rope(lt if lt is not None else cfg["global_rope_theta"])
    act = ACT[cfg["hidden_activation"]]
    I = cfg["intermediate_size"]
    for l in range(cfg["num_hidden_layers"]):
        p = f"{pre}layers.{l}."
        local = l % cfg["global_attn_every_n_layers"] != 0
        x = h if l == 0 else P.ln(h, p + "attn_norm", eps)
        qkv = P.linear(x, p + "attn.Wqkv").view(B, -1, 3, H, D)
        q, k, v = qkv.transpose(3, 1).unbind(dim=2)
        cos, sin = l_rope if local else g_rope
        q, k = q * cos + rotate_half(q) * sin, k * cos + rotate_half(k) * sin
        w = torch.matmul(q, k.transpose(2, 3)) * D**-0.5 + (sliding if local else glob)
        o = torch.matmul(torch.softmax(w, dim=-1), v).transpose(1, 2).contiguous().view(B, -1, C)
        h = h + P.linear(o, p + "attn.Wo")
        inp, gate = P.linear(P.ln(h, p + "mlp_norm", eps), p + "mlp.Wi").chunk(2, dim=-1)
        assert inp.shape[-1] == I
        h = h + P.linear(act(inp) * gate, p + "mlp.Wo")
    return P.ln(h, pre + "final_norm", eps)


def modernbert_head(P, cfg, h):
    return P.ln(ACT[cfg["classifier_activation"]](P.linear(h, "head.dense")), "head.norm", cfg["norm_eps"])


def modernbert_mlm(P, cfg, h):
    # ModernBertForMaskedLM: decoder(head(h)); decoder.weight is model.embeddings.tok_embeddings.weight when tied.
    w = P["decoder.weight"] if P.has("decoder.weight") else P["model.embeddings.tok_embeddings.weight"]
    y = modernbert_head(P, cfg, h) @ w.T
    return y + P["decoder.bias"] if P.has("decoder.bias") else y


def modernbert_seq_cls(P, cfg, h, mask, labels):
    if cfg["classifier_pooling"] == "cls":
        pooled = h[:, 0]
    else:
        m = mask.float()
        pooled = (h * m.unsqueeze(-1)).sum(dim=1) / m.sum(dim=1, keepdim=True)
    logits = P.linear(modernbert_head(P, cfg, pooled), "classifier")
    n = logits.shape[-1]
    if n == 1:
        loss = Fn.mse_loss(logits.squeeze(), labels.squeeze())
    elif labels.dtype in (torch.long, torch.int):
        loss = Fn.cross_entropy(logits.view(-1, n), labels.view(-1))
    else:
        loss = Fn.binary_cross_entropy_with_logits(logits, labels)
    return logits, loss
