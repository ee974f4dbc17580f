# The PyTorch side of `npm run bench` (bench/train.ts runs it in its own process, so its peak RSS is
# its own): BertForSequenceClassification written out in plain torch to transformers' eager math
# (modeling_bert.py: post-LN encoder, erf GELU, additive finfo.min attention mask, softmax, dropout,
# pooler dense + tanh on [CLS], cross-entropy), loaded from the safetensors file the finetune side wrote
# (same names, same random weights) and trained on the same batch with torch.optim.AdamW (two groups,
# no decay for biases and LayerNorm weights) and clip_grad_norm_, as transformers' Trainer does.
# With "bf16": true the forward passes (and the loss) run under torch.autocast('cpu', dtype=torch.bfloat16):
# bf16 matrix products, fp32 master weights and optimizer state, as a PyTorch user would mix precision.
# Needs only torch (Debian's python3-torch); prints one JSON line. Not a test: nothing is asserted.
# Usage: python3 torch_train.py '{"config": {...}, "weights": ..., "batch": ..., "threads": 0, ...}'

import json
import math
import resource
import struct
import sys
import time

try:
    import torch
    import torch.nn as nn
    import torch.nn.functional as Fn
except Exception as e:  # noqa: BLE001 - report any import failure as a skip reason
    print(json.dumps({"error": "import torch failed: %s" % e}))
    sys.exit(0)

DTYPES = {"F32": torch.float32, "I32": torch.int32, "I64": torch.int64}


def read_safetensors(path):
    raw = open(path, "rb").read()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8 : 8 + n])
    data = memoryview(raw)[8 + n :]
    out = {}
    for name, meta in header.items():
        if name == "__metadata__":
            continue
        start, end = meta["data_offsets"]
        t = torch.frombuffer(bytearray(data[start:end]), dtype=DTYPES[meta["dtype"]])
        out[name] = t.reshape(meta["shape"])
    return out


class SelfAttention(nn.Module):
    def __init__(self, c):
        super().__init__()
        C = c["hidden"]
        self.heads, self.d = c["heads"], C // c["heads"]
        self.query, self.key, self.value = nn.Linear(C, C), nn.Linear(C, C), nn.Linear(C, C)
        self.dropout = nn.Dropout(c["dropout"])

    def split(self, x):
        B, T, _ = x.shape
        return x.view(B, T, self.heads, self.d).permute(0, 2, 1, 3)

    def forward(self, x, ext):
        q, k, v = self.split(self.query(x)), self.split(self.key(x)), self.split(self.value(x))
        s = torch.matmul(q, k.transpose(-1, -2)) / math.sqrt(self.d) + ext
        p = self.dropout(Fn.softmax(s, dim=-1))
        ctx = torch.matmul(p, v).permute(0, 2, 1, 3).contiguous()
        return ctx.view(x.shape)


class Output(nn.Module):
    """dense + dropout + residual + LayerNorm (BertSelfOutput / BertOutput)."""

    def __init__(self, c, inF):
        super().__init__()
        self.dense = nn.Linear(inF, c["hidden"])
        self.LayerNorm = nn.LayerNorm(c["hidden"], eps=1e-12)
        self.dropout = nn.Dropout(c["dropout"])

    def forward(self, h, residual):
        return self.LayerNorm(self.dropout(self.dense(h)) + residual)


class Attention(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.self = SelfAttention(c)
        self.output = Output(c, c["hidden"])

    def forward(self, x, ext):
        return self.output(self.self(x, ext), x)


class Intermediate(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.dense = nn.Linear(c["hidden"], c["intermediate"])

    def forward(self, x):
        return Fn.gelu(self.dense(x))


class Layer(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.attention = Attention(c)
        self.intermediate = Intermediate(c)
        self.output = Output(c, c["intermediate"])

    def forward(self, x, ext):
        a = self.attention(x, ext)
        return self.output(self.intermediate(a), a)


class Encoder(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.layer = nn.ModuleList([Layer(c) for _ in range(c["layers"])])

    def forward(self, x, ext):
        for l in self.layer:
            x = l(x, ext)
        return x


class Embeddings(nn.Module):
    def __init__(self, c):
        super().__init__()
        C = c["hidden"]
        self.word_embeddings = nn.Embedding(c["vocab"], C, padding_idx=0)
        self.position_embeddings = nn.Embedding(c.get("maxPositions", 512), C)
        self.token_type_embeddings = nn.Embedding(2, C)
        self.LayerNorm = nn.LayerNorm(C, eps=1e-12)
        self.dropout = nn.Dropout(c["dropout"])

    def forward(self, ids, types):
        pos = torch.arange(ids.shape[1]).unsqueeze(0)
        x = self.word_embeddings(ids) + self.token_type_embeddings(types) + self.position_embeddings(pos)
        return self.dropout(self.LayerNorm(x))


class Pooler(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.dense = nn.Linear(c["hidden"], c["hidden"])

    def forward(self, h):
        return torch.tanh(self.dense(h[:, 0]))


class Bert(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.embeddings = Embeddings(c)
        self.encoder = Encoder(c)
        self.pooler = Pooler(c)


class BertForSequenceClassification(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.bert = Bert(c)
        self.dropout = nn.Dropout(c["dropout"])
        self.classifier = nn.Linear(c["hidden"], c["labels"])

    def forward(self, ids, mask, types, labels=None):
        ext = (1.0 - mask[:, None, None, :].to(torch.float32)) * torch.finfo(torch.float32).min
        h = self.bert.encoder(self.bert.embeddings(ids, types), ext)
        logits = self.classifier(self.dropout(self.bert.pooler(h)))
        loss = Fn.cross_entropy(logits, labels) if labels is not None else None
        return loss, logits


def optimizer(model, cfg):
    no_decay = lambda n: "bias" in n or "LayerNorm.weight" in n
    groups = [
        {"params": [p for n, p in model.named_parameters() if not no_decay(n)], "weight_decay": cfg["weightDecay"]},
        {"params": [p for n, p in model.named_parameters() if no_decay(n)], "weight_decay": 0.0},
    ]
    return torch.optim.AdamW(groups, lr=cfg["lr"], betas=(0.9, 0.999), eps=1e-8)


def autocast(cfg):
    """bf16 autocast when cfg["bf16"], else a no-op context."""
    return torch.autocast("cpu", dtype=torch.bfloat16, enabled=bool(cfg.get("bf16")))


def train_step(model, opt, cfg, ids, mask, types, labels):
    with autocast(cfg):
        loss, _ = model(ids, mask, types, labels)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), cfg["maxGradNorm"])
    opt.step()
    opt.zero_grad(set_to_none=True)


def batch_list(model, cfg):
    """Variable-length mode: one training step per stored batch b{i}.* (shapes differ), each timed."""
    b = read_safetensors(cfg["batches"])
    model.train()
    opt = optimizer(model, cfg)
    ms = []
    for i in range(cfg["numBatches"]):
        ids, mask = b["b%d.input_ids" % i].long(), b["b%d.attention_mask" % i].long()
        types, labels = torch.zeros_like(ids), b["b%d.labels" % i].long()
        t0 = time.perf_counter()
        train_step(model, opt, cfg, ids, mask, types, labels)
        ms.append((time.perf_counter() - t0) * 1e3)
    return {"trainMs": ms}


def main():
    cfg = json.loads(sys.argv[1])
    if cfg["threads"] > 0:
        torch.set_num_threads(cfg["threads"])
    torch.manual_seed(0)
    c = cfg["config"]
    model = BertForSequenceClassification(c)
    state = read_safetensors(cfg["weights"])
    missing, unexpected = model.load_state_dict(state, strict=False)
    if missing or unexpected:
        print(json.dumps({"error": "weights do not match: missing %s, unexpected %s" % (missing, unexpected)}))
        return
    del state
    if "batches" in cfg:
        out = batch_list(model, cfg)
        out.update({"threads": torch.get_num_threads(), "maxRssBytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024})
        print(json.dumps(out))
        return
    b = read_safetensors(cfg["batch"])
    ids, mask = b["input_ids"].long(), b["attention_mask"].long()
    types, labels = b["token_type_ids"].long(), b["labels"].long()

    model.eval()
    with torch.no_grad(), autocast(cfg):
        loss, logits = model(ids, mask, types, labels)
    check = {"checkLoss": loss.item(), "checkLogits": logits.flatten()[:4].tolist()}

    infer = []
    with torch.no_grad(), autocast(cfg):
        for i in range(cfg["warmup"] + cfg["inferSteps"]):
            t0 = time.perf_counter()
            model(ids, mask, types)
            if i >= cfg["warmup"]:
                infer.append((time.perf_counter() - t0) * 1e3)

    model.train()
    opt = optimizer(model, cfg)
    train = []
    for i in range(cfg["warmup"] + cfg["steps"]):
        t0 = time.perf_counter()
        train_step(model, opt, cfg, ids, mask, types, labels)
        if i >= cfg["warmup"]:
            train.append((time.perf_counter() - t0) * 1e3)

    print(json.dumps({
        "threads": torch.get_num_threads(),
        "version": torch.__version__,
        "bf16": bool(cfg.get("bf16")),
        "parameters": sum(p.numel() for p in model.parameters()),
        "trainMs": train,
        "inferMs": infer,
        "maxRssBytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
        **check,
    }))


main()
