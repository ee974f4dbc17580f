# A tiny PyTorch re-implementation of transformers' DeBERTa-v2 (modeling_deberta_v2.py: embeddings with
# mask, DisentangledSelfAttention with make_log_bucket_position / build_relative_position and the c2p /
# p2c torch.gather terms, masked_fill(min) softmax, ContextPooler, DeBERTa's sequence-classification loss,
# token classification, QA) and ModernBERT (modeling_modernbert.py), used by encoders.torch.test.ts as an
# independent numeric reference. Needs only torch.
# Usage: python3 torch_encoders2_reference.py CASE_DIR...  Each CASE_DIR holds config.json,
# model.safetensors, inputs.safetensors (input_ids, attention_mask, token_type_ids, labels or
# start/end_positions) and case.json {"task"}; writes torch_out.safetensors (logits, loss, grad.<name>).

import json
import math
import os
import sys

import torch
import torch.nn.functional as Fn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from torch_decoder_reference import read_safetensors, write_safetensors  # noqa: E402

ACT = {"gelu": Fn.gelu, "gelu_new": lambda x: Fn.gelu(x, approximate="tanh"), "relu": Fn.relu, "tanh": torch.tanh, "silu": Fn.silu}
MIN = torch.finfo(torch.float32).min


class W:
    def __init__(self, weights):
        self.w = {k: v.clone().requires_grad_(True) for k, v in weights.items()}

    def __getitem__(self, k):
        return self.w[k]

    def has(self, k):
        return k in self.w

    def linear(self, x, name):
        y = x @ self.w[name + ".weight"].T
        b = self.w.get(name + ".bias")
        return y + b if b is not None else y

    def ln(self, x, name, eps):
        return Fn.layer_norm(x, (x.shape[-1],), self.w[name + ".weight"], self.w.get(name + ".bias"), eps)


def padded_embedding(table, ids, pad):
    if pad is not None:
        table = torch.cat([table[:pad], table[pad : pad + 1].detach(), table[pad + 1 :]])
    return table[ids]


# ---------------------------------------------------------------- DeBERTa-v2


def make_log_bucket_position(relative_pos, bucket_size, max_position):
    sign = torch.sign(relative_pos)
    mid = bucket_size // 2
    abs_pos = torch.where((relative_pos < mid) & (relative_pos > -mid), torch.tensor(mid - 1).type_as(relative_pos), torch.abs(relative_pos))
    log_pos = torch.ceil(torch.log(abs_pos / mid) / torch.log(torch.tensor((max_position - 1) / mid)) * (mid - 1)) + mid
    return torch.where(abs_pos <= mid, relative_pos.type_as(log_pos), log_pos * sign)


def build_relative_position(q, k, bucket_size, max_position):
    rel = torch.arange(q)[:, None] - torch.arange(k)[None, :]
    if bucket_size > 0 and max_position > 0:
        rel = make_log_bucket_position(rel, bucket_size, max_position)
    return rel.to(torch.long)[None]


def deberta_hidden(P, cfg, ids, mask, types):
    B, T = ids.shape
    C, H = cfg["hidden_size"], cfg["num_attention_heads"]
    D = cfg.get("attention_head_size") or C // H
    eps = cfg["layer_norm_eps"]
    act = ACT[cfg["hidden_act"]]
    pre = "deberta." if P.has("deberta.embeddings.word_embeddings.weight") else ""
    x = padded_embedding(P[pre + "embeddings.word_embeddings.weight"], ids, cfg["pad_token_id"])
    if cfg.get("position_biased_input", True):
        x = x + P[pre + "embeddings.position_embeddings.weight"][torch.arange(T)][None]
    if cfg.get("type_vocab_size", 0) > 0:
        x = x + P[pre + "embeddings.token_type_embeddings.weight"][types]
    if P.has(pre + "embeddings.embed_proj.weight"):
        x = P.linear(x, pre + "embeddings.embed_proj")
    x = P.ln(x, pre + "embeddings.LayerNorm", eps) * mask[:, :, None].float()
    pos_types = cfg.get("pos_att_type") or []
    if isinstance(pos_types, str):
        pos_types = [t.strip() for t in pos_types.lower().split("|")]
    rel_on = cfg.get("relative_attention", False)
    max_rel = cfg.get("max_relative_positions", -1)
    if max_rel < 1:
        max_rel = cfg["max_position_embeddings"]
    buckets = cfg.get("position_buckets", -1)
    span = buckets if buckets > 0 else max_rel
    rel_pos = build_relative_position(T, T, buckets, max_rel)
    if rel_on:
        rel_emb = P[pre + "encoder.rel_embeddings.weight"]
        if "layer_norm" in [s.strip() for s in cfg.get("norm_rel_ebd", "none").lower().split("|")]:
            rel_emb = P.ln(rel_emb, pre + "encoder.LayerNorm", eps)
    mask2 = (mask[:, None, None, :] * mask[:, None, :, None]).bool()
    share = cfg.get("share_att_key", False)

    def tfs(t):  # transpose_for_scores: (B', n, H*D) -> (B'*H, n, D)
        return t.view(t.shape[0], t.shape[1], H, -1).permute(0, 2, 1, 3).contiguous().view(-1, t.shape[1], D)

    for l in range(cfg["num_hidden_layers"]):
        p = f"{pre}encoder.layer.{l}.attention."
        q = tfs(P.linear(x, p + "self.query_proj"))
        k = tfs(P.linear(x, p + "self.key_proj"))
        v = tfs(P.linear(x, p + "self.value_proj"))
        sf = 1 + len(pos_types)
        scale = torch.sqrt(torch.tensor(D, dtype=torch.float) * sf)
        scores = torch.bmm(q, k.transpose(-1, -2)) / scale
        if rel_on and pos_types:
            rel = rel_emb[0 : span * 2, :].unsqueeze(0)
            score = 0
            if "c2p" in pos_types:
                pk = tfs(P.linear(rel, p + ("self.key_proj" if share else "self.pos_key_proj"))).repeat(B, 1, 1)
                c2p = torch.bmm(q, pk.transpose(-1, -2))
                c2p_pos = torch.clamp(rel_pos + span, 0, span * 2 - 1)
                c2p = torch.gather(c2p, dim=-1, index=c2p_pos.squeeze(0).expand([q.size(0), q.size(1), T]))
                score = score + c2p / scale
            if "p2c" in pos_types:
                pq = tfs(P.linear(rel, p + ("self.query_proj" if share else "self.pos_query_proj"))).repeat(B, 1, 1)
                p2c_pos = torch.clamp(-rel_pos + span, 0, span * 2 - 1)
                p2c = torch.bmm(k, pq.transpose(-1, -2))
                p2c = torch.gather(p2c, dim=-1, index=p2c_pos.squeeze(0).expand([q.size(0), T, T])).transpose(-1, -2)
                score = score + p2c / scale
            scores = scores + score
        scores = scores.view(B, H, T, T).masked_fill(~mask2, MIN)
        probs = torch.softmax(scores, dim=-1)
        ctx = torch.bmm(probs.view(-1, T, T), v).view(B, H, T, D).permute(0, 2, 1, 3).reshape(B, T, H * D)
        a = P.ln(P.linear(ctx, p + "output.dense") + x, p + "output.LayerNorm", eps)
        q2 = f"{pre}encoder.layer.{l}."
        x = P.ln(P.linear(act(P.linear(a, q2 + "intermediate.dense")), q2 + "output.dense") + a, q2 + "output.LayerNorm", eps)
    return x


def deberta_seq_loss(cfg, logits, labels):
    n = logits.shape[-1]
    if n == 1:
        return Fn.mse_loss(logits.view(-1).to(labels.dtype), labels.view(-1))
    if labels.dim() == 1 or labels.size(-1) == 1:
        idx = (labels >= 0).nonzero()
        labels = labels.long()
        lg = torch.gather(logits, 0, idx.expand(idx.size(0), logits.size(1)))
        return Fn.cross_entropy(lg.view(-1, n).float(), torch.gather(labels, 0, idx.view(-1)).view(-1))
    return -((torch.log_softmax(logits, -1) * labels).sum(-1)).mean()


# ---------------------------------------------------------------- driver


def deberta_mlm(P, cfg, h):
    # transformers: "legacy" (default true) -> cls.predictions (transform C->E, decoder tied to the word
    # embeddings unless tie_word_embeddings is false, bias); false -> lm_predictions.lm_head (C->C, x W_emb^T + bias).
    act, eps = ACT[cfg.get("hidden_act", "gelu")], cfg.get("layer_norm_eps", 1e-7)
    words = P["deberta.embeddings.word_embeddings.weight"]
    if cfg.get("legacy", True):
        x = P.ln(act(P.linear(h, "cls.predictions.transform.dense")), "cls.predictions.transform.LayerNorm", eps)
        dec = P["cls.predictions.decoder.weight"] if P.has("cls.predictions.decoder.weight") else words
        return x @ dec.T + P["cls.predictions.bias"]
    x = P.ln(act(P.linear(h, "lm_predictions.lm_head.dense")), "lm_predictions.lm_head.LayerNorm", eps)
    return x @ words.T + P["lm_predictions.lm_head.bias"]


def qa_loss(logits, sp, ep):
    T = logits.shape[1]
    start, end = logits[..., 0], logits[..., 1]
    sp, ep = sp.clamp(0, T), ep.clamp(0, T)
    return (Fn.cross_entropy(start, sp, ignore_index=T) + Fn.cross_entropy(end, ep, ignore_index=T)) / 2


def run(case_dir):
    cfg = json.load(open(os.path.join(case_dir, "config.json")))
    case = json.load(open(os.path.join(case_dir, "case.json")))
    P = W(read_safetensors(os.path.join(case_dir, "model.safetensors")))
    inp = read_safetensors(os.path.join(case_dir, "inputs.safetensors"))
    ids, mask = inp["input_ids"], inp["attention_mask"]
    task = case["task"]
    mt = cfg["model_type"]
    if mt == "deberta-v2":
        h = deberta_hidden(P, cfg, ids, mask, inp["token_type_ids"])
    else:
        from torch_modernbert_reference import modernbert_hidden  # noqa: E402

        h = modernbert_hidden(P, cfg, ids, mask)
    loss = None
    if task == "text-classification":
        if mt == "deberta-v2":
            pooled = ACT[cfg.get("pooler_hidden_act", "gelu")](P.linear(h[:, 0], "pooler.dense"))
            logits = P.linear(pooled, "classifier")
            loss = deberta_seq_loss(cfg, logits, inp["labels"])
        else:
            from torch_modernbert_reference import modernbert_seq_cls  # noqa: E402

            logits, loss = modernbert_seq_cls(P, cfg, h, mask, inp["labels"])
    elif task == "token-classification":
        if mt == "deberta-v2":
            logits = P.linear(h, "classifier")
        else:
            from torch_modernbert_reference import modernbert_head  # noqa: E402

            logits = P.linear(modernbert_head(P, cfg, h), "classifier")
        loss = Fn.cross_entropy(logits.reshape(-1, logits.shape[-1]), inp["labels"].reshape(-1), ignore_index=-100)
    elif task == "question-answering":
        if mt == "deberta-v2":
            logits = P.linear(h, "qa_outputs")
        else:
            from torch_modernbert_reference import modernbert_head  # noqa: E402

            logits = P.linear(modernbert_head(P, cfg, h), "classifier")
        loss = qa_loss(logits, inp["start_positions"], inp["end_positions"])
    elif task == "fill-mask":
        if mt == "deberta-v2":
            logits = deberta_mlm(P, cfg, h)
        else:
            from torch_modernbert_reference import modernbert_mlm  # noqa: E402

            logits = modernbert_mlm(P, cfg, h)
        loss = Fn.cross_entropy(logits.reshape(-1, logits.shape[-1]), inp["labels"].reshape(-1), ignore_index=-100)
    else:
        m = mask[:, :, None].float()
        logits = (h * m).sum(1) / m.sum(1).clamp(min=1e-9)
    out = {"logits": logits}
    if loss is not None:
        loss.backward()
        out["loss"] = loss.reshape(1)
        for name, t in P.w.items():
            out["grad." + name] = t.grad if t.grad is not None else torch.zeros_like(t)
    write_safetensors(os.path.join(case_dir, "torch_out.safetensors"), out)


if __name__ == "__main__":
    torch.manual_seed(0)
    for d in sys.argv[1:]:
        run(d)
