# A tiny PyTorch re-implementation of transformers' BERT, RoBERTa / XLM-RoBERTa and DistilBERT task
# models (modules named as in modeling_bert.py / modeling_roberta.py / modeling_distilbert.py, eager
# attention with the finfo.min additive mask, transformers' loss rules), used by
# torch.crosscheck.test.ts as an independent numeric reference. Needs only torch (no transformers).
# Usage: python3 torch_reference.py CASE_DIR...   Each CASE_DIR holds config.json, model.safetensors,
# inputs.safetensors and case.json {"task": ...}; writes torch_out.safetensors (logits, loss, grad.<name>).

import json
import math
import struct
import sys

import torch
import torch.nn as nn
import torch.nn.functional as Fn

DTYPES = {"F32": torch.float32, "F64": torch.float64, "I64": torch.int64, "I32": torch.int32}
ACT = {
    "gelu": Fn.gelu,
    "gelu_new": lambda x: Fn.gelu(x, approximate="tanh"),
    "gelu_pytorch_tanh": lambda x: Fn.gelu(x, approximate="tanh"),
    "relu": Fn.relu,
    "silu": Fn.silu,
}


def read_safetensors(path):
    raw = open(path, "rb").read()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8 : 8 + n])
    data = raw[8 + n :]
    out = {}
    for name, meta in header.items():
        if name == "__metadata__":
            continue
        start, end = meta["data_offsets"]
        buf = bytearray(data[start:end])
        t = torch.frombuffer(buf, dtype=DTYPES[meta["dtype"]]) if buf else torch.zeros(0, dtype=DTYPES[meta["dtype"]])
        out[name] = t.reshape(meta["shape"]).clone()
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


def extended_mask(mask):
    return (1.0 - mask[:, None, None, :].to(torch.float32)) * torch.finfo(torch.float32).min


def attend(q, k, v, heads, ext):
    B, T, C = q.shape
    D = C // heads
    split = lambda x: x.view(B, T, heads, D).permute(0, 2, 1, 3)
    scores = split(q) @ split(k).transpose(-1, -2) / math.sqrt(D) + ext
    return (scores.softmax(-1) @ split(v)).permute(0, 2, 1, 3).reshape(B, T, C)


# ---- BERT / RoBERTa ------------------------------------------------------------------------------
class BertEmbeddings(nn.Module):
    def __init__(self, c, roberta):
        super().__init__()
        self.pad, self.roberta = c["pad_token_id"], roberta
        self.word_embeddings = nn.Embedding(c["vocab_size"], c["hidden_size"], padding_idx=self.pad)
        self.position_embeddings = nn.Embedding(c["max_position_embeddings"], c["hidden_size"], padding_idx=self.pad if roberta else None)
        self.token_type_embeddings = nn.Embedding(c["type_vocab_size"], c["hidden_size"])
        self.LayerNorm = nn.LayerNorm(c["hidden_size"], eps=c["layer_norm_eps"])

    def forward(self, ids, tt):
        if self.roberta:  # create_position_ids_from_input_ids
            m = ids.ne(self.pad).int()
            pos = (torch.cumsum(m, dim=1).type_as(m) * m).long() + self.pad
        else:
            pos = torch.arange(ids.shape[1]).unsqueeze(0)
        x = self.word_embeddings(ids) + self.token_type_embeddings(tt)
        x = x + self.position_embeddings(pos)
        return self.LayerNorm(x)


class BertSelfAttention(nn.Module):
    def __init__(self, c):
        super().__init__()
        H = c["hidden_size"]
        self.heads = c["num_attention_heads"]
        self.query, self.key, self.value = nn.Linear(H, H), nn.Linear(H, H), nn.Linear(H, H)

    def forward(self, x, ext):
        return attend(self.query(x), self.key(x), self.value(x), self.heads, ext)


class BertSelfOutput(nn.Module):
    def __init__(self, c, inner):
        super().__init__()
        self.dense = nn.Linear(inner, c["hidden_size"])
        self.LayerNorm = nn.LayerNorm(c["hidden_size"], eps=c["layer_norm_eps"])

    def forward(self, h, residual):
        return self.LayerNorm(self.dense(h) + residual)


class BertAttention(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.self = BertSelfAttention(c)
        self.output = BertSelfOutput(c, c["hidden_size"])

    def forward(self, x, ext):
        return self.output(self.self(x, ext), x)


class BertIntermediate(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.dense = nn.Linear(c["hidden_size"], c["intermediate_size"])
        self.act = ACT[c["hidden_act"]]

    def forward(self, x):
        return self.act(self.dense(x))


class BertLayer(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.attention = BertAttention(c)
        self.intermediate = BertIntermediate(c)
        self.output = BertSelfOutput(c, c["intermediate_size"])

    def forward(self, x, ext):
        a = self.attention(x, ext)
        return self.output(self.intermediate(a), a)


class BertEncoder(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.layer = nn.ModuleList([BertLayer(c) for _ in range(c["num_hidden_layers"])])

    def forward(self, x, ext):
        for l in self.layer:
            x = l(x, ext)
        return x


class BertPooler(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.dense = nn.Linear(c["hidden_size"], c["hidden_size"])

    def forward(self, h):
        return torch.tanh(self.dense(h[:, 0]))


class BertModel(nn.Module):
    def __init__(self, c, pool, roberta):
        super().__init__()
        self.embeddings = BertEmbeddings(c, roberta)
        self.encoder = BertEncoder(c)
        self.pooler = BertPooler(c) if pool else None

    def forward(self, b):
        h = self.encoder(self.embeddings(b["input_ids"], b["token_type_ids"]), extended_mask(b["attention_mask"]))
        return h, (self.pooler(h) if self.pooler is not None else None)


# ---- DistilBERT ----------------------------------------------------------------------------------
class DistilEmbeddings(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.word_embeddings = nn.Embedding(c["vocab_size"], c["dim"], padding_idx=c["pad_token_id"])
        self.position_embeddings = nn.Embedding(c["max_position_embeddings"], c["dim"])
        if c.get("sinusoidal_pos_embds", False):
            self.position_embeddings.weight.requires_grad = False
        self.LayerNorm = nn.LayerNorm(c["dim"], eps=1e-12)

    def forward(self, ids):
        return self.LayerNorm(self.word_embeddings(ids) + self.position_embeddings(torch.arange(ids.shape[1]).unsqueeze(0)))


class MultiHeadSelfAttention(nn.Module):
    def __init__(self, c):
        super().__init__()
        d = c["dim"]
        self.heads = c["n_heads"]
        self.q_lin, self.k_lin, self.v_lin, self.out_lin = (nn.Linear(d, d) for _ in range(4))

    def forward(self, x, ext):
        return self.out_lin(attend(self.q_lin(x), self.k_lin(x), self.v_lin(x), self.heads, ext))


class FFN(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.lin1 = nn.Linear(c["dim"], c["hidden_dim"])
        self.lin2 = nn.Linear(c["hidden_dim"], c["dim"])
        self.act = ACT[c["activation"]]

    def forward(self, x):
        return self.lin2(self.act(self.lin1(x)))


class TransformerBlock(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.attention = MultiHeadSelfAttention(c)
        self.sa_layer_norm = nn.LayerNorm(c["dim"], eps=1e-12)
        self.ffn = FFN(c)
        self.output_layer_norm = nn.LayerNorm(c["dim"], eps=1e-12)

    def forward(self, x, ext):
        sa = self.sa_layer_norm(self.attention(x, ext) + x)
        return self.output_layer_norm(self.ffn(sa) + sa)


class Transformer(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.layer = nn.ModuleList([TransformerBlock(c) for _ in range(c["n_layers"])])


class DistilBertModel(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.embeddings = DistilEmbeddings(c)
        self.transformer = Transformer(c)

    def forward(self, b):
        x, ext = self.embeddings(b["input_ids"]), extended_mask(b["attention_mask"])
        for l in self.transformer.layer:
            x = l(x, ext)
        return x, None


# ---- heads and losses (transformers' rules) ------------------------------------------------------
def seq_loss(c, logits, labels):
    n = c.get("num_labels", len(c.get("id2label", {})) or 2)
    pt = c.get("problem_type")
    if pt is None:
        pt = "regression" if n == 1 else ("single_label_classification" if labels.dtype in (torch.long, torch.int) else "multi_label_classification")
    if pt == "regression":
        return Fn.mse_loss(logits.squeeze(), labels.squeeze().float()) if n == 1 else Fn.mse_loss(logits, labels.float())
    if pt == "single_label_classification":
        return Fn.cross_entropy(logits.view(-1, n), labels.view(-1))
    return Fn.binary_cross_entropy_with_logits(logits, labels.float())


def qa_loss(start, end, sp, ep):
    T = start.shape[1]
    sp, ep = sp.clamp(0, T), ep.clamp(0, T)
    return (Fn.cross_entropy(start, sp, ignore_index=T) + Fn.cross_entropy(end, ep, ignore_index=T)) / 2


def base_model(c, task):
    """The bare model a task model wraps (BertModel / RobertaModel / DistilBertModel) and its prefix."""
    mt = c["model_type"]
    if mt == "distilbert":
        return "distilbert", DistilBertModel(c)
    roberta = mt in ("roberta", "xlm-roberta")
    pool = task == "feature-extraction" or (task == "text-classification" and not roberta)
    return ("roberta" if roberta else "bert"), BertModel(c, pool, roberta)


def mean_pool(h, mask):
    m = mask.unsqueeze(-1).float()
    return (h * m).sum(1) / m.sum(1).clamp(min=1e-9)


class TaskModel(nn.Module):
    def __init__(self, c, task):
        super().__init__()
        self.c, self.task = c, task
        mt = c["model_type"]
        n = len(c["id2label"]) if "id2label" in c else c.get("num_labels", 2)
        self.prefix, base = base_model(c, task)
        setattr(self, self.prefix, base)
        H = c["dim"] if mt == "distilbert" else c["hidden_size"]
        if task == "text-classification":
            if mt == "distilbert":
                self.pre_classifier, self.classifier = nn.Linear(H, H), nn.Linear(H, n)
            elif mt == "bert":
                self.classifier = nn.Linear(H, n)
            else:
                self.classifier = nn.Module()
                self.classifier.dense, self.classifier.out_proj = nn.Linear(H, H), nn.Linear(H, n)
        elif task == "token-classification":
            self.classifier = nn.Linear(H, n)
        elif task == "question-answering":
            self.qa_outputs = nn.Linear(H, n)
        elif task == "fill-mask":
            emb = base.embeddings.word_embeddings
            V = c["vocab_size"]
            if mt == "bert":
                self.cls = nn.Module()
                self.cls.predictions = p = nn.Module()
                p.transform = nn.Module()
                p.transform.dense, p.transform.LayerNorm = nn.Linear(H, H), nn.LayerNorm(H, eps=c["layer_norm_eps"])
                p.decoder, p.bias = nn.Linear(H, V, bias=False), nn.Parameter(torch.zeros(V))
                p.decoder.weight = emb.weight
            elif mt == "distilbert":
                self.vocab_transform, self.vocab_layer_norm = nn.Linear(H, H), nn.LayerNorm(H, eps=1e-12)
                self.vocab_projector = nn.Linear(H, V)
                self.vocab_projector.weight = emb.weight
            else:
                self.lm_head = h = nn.Module()
                h.dense, h.layer_norm = nn.Linear(H, H), nn.LayerNorm(H, eps=c["layer_norm_eps"])
                h.decoder, h.bias = nn.Linear(H, V, bias=False), nn.Parameter(torch.zeros(V))
                h.decoder.weight = emb.weight

    def forward(self, b):
        c, task, mt = self.c, self.task, self.c["model_type"]
        h, pooled = getattr(self, self.prefix)(b)
        labels = b.get("labels")
        if task == "text-classification":
            if mt == "distilbert":
                logits = self.classifier(torch.relu(self.pre_classifier(h[:, 0])))
            elif mt == "bert":
                logits = self.classifier(pooled)
            else:
                logits = self.classifier.out_proj(torch.tanh(self.classifier.dense(h[:, 0])))
            return logits, seq_loss(c, logits, labels)
        if task == "token-classification":
            logits = self.classifier(h)
            return logits, Fn.cross_entropy(logits.view(-1, logits.shape[-1]), labels.view(-1), ignore_index=-100)
        if task == "question-answering":
            logits = self.qa_outputs(h)
            start, end = (t.squeeze(-1) for t in logits.split(1, dim=-1))
            return logits, qa_loss(start, end, b["start_positions"], b["end_positions"])
        if mt == "bert":
            p = self.cls.predictions
            logits = p.decoder(p.transform.LayerNorm(ACT[c["hidden_act"]](p.transform.dense(h)))) + p.bias
        elif mt == "distilbert":
            logits = self.vocab_projector(self.vocab_layer_norm(ACT[c["activation"]](self.vocab_transform(h))))
        else:
            hd = self.lm_head
            logits = hd.decoder(hd.layer_norm(Fn.gelu(hd.dense(h)))) + hd.bias
        return logits, Fn.cross_entropy(logits.view(-1, logits.shape[-1]), labels.view(-1), ignore_index=-100)


def run(case_dir):
    c = json.load(open(f"{case_dir}/config.json"))
    task = json.load(open(f"{case_dir}/case.json"))["task"]
    if task == "feature-extraction":
        _, model = base_model(c, task)
        forward = lambda b: (mean_pool(model(b)[0], b["attention_mask"]), None)
    else:
        model = TaskModel(c, task)
        forward = model
    weights = read_safetensors(f"{case_dir}/model.safetensors")
    missing, unexpected = model.load_state_dict(weights, strict=False)
    tied = {"cls.predictions.decoder.weight", "lm_head.decoder.weight", "vocab_projector.weight"}
    if unexpected or set(missing) - tied:
        raise SystemExit(f"{case_dir}: names differ from transformers' modules: missing {missing}, unexpected {unexpected}")
    batch = {k: (v.long() if v.dtype in (torch.int32, torch.int64) else v) for k, v in read_safetensors(f"{case_dir}/inputs.safetensors").items()}
    logits, loss = forward(batch)
    out = {"logits": logits}
    if loss is not None:
        loss.backward()
        out["loss"] = loss.reshape(1)
        for name, p in model.named_parameters():
            if p.requires_grad:
                out["grad." + name] = p.grad if p.grad is not None else torch.zeros_like(p)
    write_safetensors(f"{case_dir}/torch_out.safetensors", out)


if __name__ == "__main__":
    torch.manual_seed(0)
    for d in sys.argv[1:]:
        run(d)
