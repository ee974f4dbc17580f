# PEFT's LoRA semantics written out in plain PyTorch (no peft, no transformers), as an independent
# reference for adapter folders: load the base weights into torch_reference.py's task model, wrap every
# nn.Linear whose module path ends with a target_modules name (PEFT's suffix rule) as
#   y = base(x) + lora_B(lora_A(dropout(x))) * scaling,  scaling = lora_alpha / r  (or / sqrt(r), use_rslora),
# load adapter_model.safetensors by PEFT's key names ("base_model.model." + module path; lora_A / lora_B;
# modules_to_save parameters under their module path), and write the logits in eval mode.
# Usage: python3 peft_semantics.py CASE_DIR...  Each CASE_DIR: base/model.safetensors, adapter/ (adapter_config.json,
# adapter_model.safetensors, config.json), inputs.safetensors, case.json {"task"}; writes peft_out.safetensors.

import json
import math
import os
import sys

import torch
import torch.nn as nn

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "models"))
from torch_reference import TaskModel, read_safetensors, write_safetensors  # noqa: E402

PREFIX = "base_model.model."


class LoraLinear(nn.Module):
    def __init__(self, base, r, alpha, dropout, rslora):
        super().__init__()
        self.base = base
        self.lora_A = nn.Linear(base.in_features, r, bias=False)
        self.lora_B = nn.Linear(r, base.out_features, bias=False)
        self.drop = nn.Dropout(dropout)
        self.scaling = alpha / math.sqrt(r) if rslora else alpha / r

    def forward(self, x):
        return self.base(x) + self.lora_B(self.lora_A(self.drop(x))) * self.scaling


def run(case_dir):
    task = json.load(open(f"{case_dir}/case.json"))["task"]
    acfg = json.load(open(f"{case_dir}/adapter/adapter_config.json"))
    c = json.load(open(f"{case_dir}/adapter/config.json"))
    model = TaskModel(c, task)
    base = read_safetensors(f"{case_dir}/base/model.safetensors")
    own = model.state_dict()
    base = {(k if k in own else f"{model.prefix}.{k}"): v for k, v in base.items()}
    missing, _ = model.load_state_dict({k: v for k, v in base.items() if k in own}, strict=False)
    # PEFT: wrap target Linear layers (names as a module-path suffix), skipping modules_to_save.
    saved = acfg.get("modules_to_save") or []
    targets = acfg["target_modules"]
    wrapped = {}
    for name, mod in list(model.named_modules()):
        if not isinstance(mod, nn.Linear) or any(name.endswith(s) for s in saved):
            continue
        if any(name == t or name.endswith("." + t) for t in targets):
            parent = model.get_submodule(name.rsplit(".", 1)[0]) if "." in name else model
            w = LoraLinear(mod, acfg["r"], acfg["lora_alpha"], acfg["lora_dropout"], acfg.get("use_rslora", False))
            setattr(parent, name.rsplit(".", 1)[-1], w)
            wrapped[name] = w
    adapter = read_safetensors(f"{case_dir}/adapter/adapter_model.safetensors")
    params = dict(model.named_parameters())
    loaded = set()
    for key, value in adapter.items():
        assert key.startswith(PREFIX), key
        name = key[len(PREFIX):]
        if ".lora_A." in name or ".lora_B." in name:
            mod, which = name.split(".lora_")[0], "lora_" + name.split(".lora_")[1].split(".")[0]
            getattr(wrapped[mod], which).weight.data.copy_(value)
        else:
            # modules_to_save: the module's own parameters, saved under its path (PEFT strips "modules_to_save.default").
            p = name.rsplit(".", 1)
            mod = model.get_submodule(p[0])
            tgt = mod.base if isinstance(mod, LoraLinear) else mod
            getattr(tgt, p[1]).data.copy_(value)
        loaded.add(name)
    not_loaded = [m for m in missing if m not in loaded and not m.endswith("decoder.weight")]
    if not_loaded:
        raise SystemExit(f"{case_dir}: parameters neither in the base nor in the adapter: {not_loaded}")
    model.eval()
    batch = {k: (v.long() if v.dtype in (torch.int32, torch.int64) else v) for k, v in read_safetensors(f"{case_dir}/inputs.safetensors").items()}
    with torch.no_grad():
        # TaskModel.forward also computes a loss; run the encoder and the head without one.
        h, pooled = getattr(model, model.prefix)(batch)
        logits = head(model, task, c, h, pooled)
    write_safetensors(f"{case_dir}/peft_out.safetensors", {"logits": logits.contiguous()})


def head(model, task, c, h, pooled):
    mt = c["model_type"]
    if task == "text-classification":
        if mt == "distilbert":
            return model.classifier(torch.relu(model.pre_classifier(h[:, 0])))
        if mt == "bert":
            return model.classifier(pooled)
        return model.classifier.out_proj(torch.tanh(model.classifier.dense(h[:, 0])))
    if task == "token-classification":
        return model.classifier(h)
    if task == "question-answering":
        return model.qa_outputs(h)
    raise SystemExit(f"task {task} not covered")


if __name__ == "__main__":
    for d in sys.argv[1:]:
        run(d)
