// The weights-only pytorch_model.bin reader against files Debian's python3-torch writes (zip and
// legacy formats, shared storages, transposed and offset views, f16/bf16/ints/bool, Parameters,
// sharded index) and against a corpus of hostile pickles built with Python's pickle module: every
// one is refused with a clear error and none runs (a marker file is never created).
// Skips when /usr/bin/python3 with torch is absent.

import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { FinetuneError } from '../../src/errors.ts';
import { loadCheckpointTensors } from '../../src/io/checkpoint.ts';
import { readSafetensors, toFloat32, toFloat64, type SafetensorsEntry } from '../../src/io/safetensors.ts';
import { parseTorchBin, readTorchBin } from '../../src/io/torch-bin.ts';
import { createBert, fromPretrained, savePretrained } from '../../src/models/pretrained.ts';

const PY = '/usr/bin/python3';
const SKIP =
  spawnSync(PY, ['-c', 'import importlib.util, sys; sys.exit(importlib.util.find_spec("torch") is None)']).status === 0
    ? false
    : 'python3 with torch (Debian python3-torch) is not installed';

const WRITE = String.raw`
import json, os, sys, torch
out = sys.argv[1]
g = torch.Generator().manual_seed(0)
base = torch.randn(4, 6, generator=g)
sd = {
  'dense.weight': base,
  'dense.weight_t': base.t(),                 # transposed view of the same storage
  'tied.weight': base,                        # shared storage, same view
  'row': base[2],                             # offset view
  'cols': base[:, 1:5:2],                     # strided, offset view
  'half': torch.randn(3, 5, generator=g).half(),
  'bf16': torch.randn(7, generator=g).to(torch.bfloat16),
  'ids': torch.arange(-3, 9, dtype=torch.int64).reshape(3, 4),
  'i32': torch.arange(5, dtype=torch.int32),
  'mask': torch.tensor([True, False, True]),
  'scalar': torch.tensor(2.5),
  'empty': torch.zeros(0, 3),
  'param': torch.nn.Parameter(torch.randn(2, 2, generator=g)),
}
sd['ids_t'] = sd['ids'].t()                   # 8-byte elements, transposed
sd['half_t'] = sd['half'][:, ::2].t()         # 2-byte elements, strided and transposed
ref = {k: {'shape': list(v.shape), 'values': v.detach().double().flatten().tolist()} for k, v in sd.items()}
json.dump(ref, open(os.path.join(out, 'ref.json'), 'w'))
torch.save(sd, os.path.join(out, 'zip.bin'))
torch.save(sd, os.path.join(out, 'legacy.bin'), _use_new_zipfile_serialization=False)
# a state_dict() (OrderedDict with _metadata, BUILD) in a folder, and a 2-shard index
m = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.LayerNorm(4))
os.makedirs(os.path.join(out, 'folder'))
torch.save(m.state_dict(), os.path.join(out, 'folder', 'pytorch_model.bin'))
json.dump({k: v.double().flatten().tolist() for k, v in m.state_dict().items()}, open(os.path.join(out, 'folder', 'ref.json'), 'w'))
os.makedirs(os.path.join(out, 'sharded'))
items = list(m.state_dict().items())
wm = {}
for i, part in enumerate([items[:2], items[2:]]):
    name = 'pytorch_model-0000%d-of-00002.bin' % (i + 1)
    torch.save(dict(part), os.path.join(out, 'sharded', name))
    wm.update({k: name for k, _ in part})
json.dump({'metadata': {}, 'weight_map': wm}, open(os.path.join(out, 'sharded', 'pytorch_model.bin.index.json'), 'w'))
# the tiny BERT folders prepared by the test
for sub, zipped in [('bert-zip', True), ('bert-legacy', False)]:
    d = json.load(open(os.path.join(out, sub, 'dump.json')))
    sd = {k: torch.tensor(v['values'], dtype=torch.float32).reshape(v['shape']) for k, v in d.items()}
    torch.save(sd, os.path.join(out, sub, 'pytorch_model.bin'), _use_new_zipfile_serialization=zipped)
`;

/** Hostile pickles: each would run "touch MARKER" (or worse) under pickle.load. */
const HOSTILE = String.raw`
import collections, io, json, os, pickle, struct, sys, zipfile
out, marker = sys.argv[1], sys.argv[2]
cmd = 'touch ' + marker
class Sys:
    def __reduce__(self): return (os.system, (cmd,))
class Eval:
    def __reduce__(self): return (eval, ("__import__('os').system(%r)" % cmd,))
class InOrderedDict:
    def __reduce__(self): return (collections.OrderedDict, ([('w', Sys())],))
class Exec:
    def __reduce__(self): return (exec, ("open(%r, 'w')" % marker,))
cases = {
  'reduce_os_system_p2': pickle.dumps(Sys(), protocol=2),
  'reduce_eval_p2': pickle.dumps(Eval(), protocol=2),
  'stack_global_p4': pickle.dumps(Sys(), protocol=4),
  'exec_p5': pickle.dumps(Exec(), protocol=5),
  'nested_in_allowed_ordereddict': pickle.dumps(InOrderedDict(), protocol=2),
  'inside_state_dict': pickle.dumps({'a': 1, 'b': [Sys()]}, protocol=2),
  'inst_opcode': b'\x80\x02(X' + struct.pack('<I', len(cmd)) + cmd.encode() + b'ios\nsystem\n.',
  'obj_opcode': b'\x80\x02(ccollections\nOrderedDict\no.',
  'build_on_list': b'\x80\x02]}b.',
  'build_setstate_on_dict': b'\x80\x02}}b.',
  'deep_nesting': b'\x80\x02' + b'(' * 200000 + b'.',
  'deep_lists': b'\x80\x02' + b']' * 100000 + b'a' * 99999 + b'.',
  'huge_unicode_length': b'\x80\x02X\xf0\xff\xff\xff' + b'abc',
  'huge_binput_get': b'\x80\x02j\xff\xff\xff\x7f.',
  'truncated': pickle.dumps({'a': [1, 2, 3]}, protocol=2)[:-5],
  'persid_not_storage': b'\x80\x02X\x04\x00\x00\x00evil\x85Q.',
  'allowed_global_bad_args': b'\x80\x02ctorch._utils\n_rebuild_tensor_v2\nX\x01\x00\x00\x00x\x85R.',
  'rebuild_past_storage': (b'\x80\x02ctorch._utils\n_rebuild_tensor_v2\n(' +
      b'(X\x07\x00\x00\x00storagectorch\nFloatStorage\nX\x01\x00\x00\x000X\x03\x00\x00\x00cpuK\x04tQ' +
      b'K\x00K\x02K\x03\x86K\x03K\x01\x86\x89ccollections\nOrderedDict\n)RtR.'),
  'storage_key_traversal': b'\x80\x02(X\x07\x00\x00\x00storagectorch\nFloatStorage\nX\x0e\x00\x00\x00../../etc/pwd_X\x03\x00\x00\x00cpuK\x04tQ.',
  'posix_system_global': b'\x80\x02cposix\nsystem\nX\x04\x00\x00\x00trueR.',
  'builtins_getattr': b'\x80\x02cbuiltins\ngetattr\n.',
  'torch_load_in_global': b'\x80\x02ctorch\nload\n.',
}
# zip archives whose data.pkl is hostile (the torch zip path)
for name in ['reduce_os_system_p2', 'stack_global_p4', 'nested_in_allowed_ordereddict']:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, 'w', zipfile.ZIP_STORED) as z:
        z.writestr('archive/data.pkl', cases[name])
        z.writestr('archive/version', '3\n')
    cases['zip_' + name] = buf.getvalue()
os.makedirs(out, exist_ok=True)
for k, v in cases.items():
    open(os.path.join(out, k + '.bin'), 'wb').write(v)
print(json.dumps(sorted(cases)))
`;

function check(e: SafetensorsEntry, ref: { shape: number[]; values: number[] }, name: string): void {
  assert.deepEqual(e.shape, ref.shape, `${name} shape`);
  const got = e.dtype === 'BOOL' ? Array.from(e.data, (b) => b) : Array.from(toFloat64(e));
  assert.equal(got.length, ref.values.length, `${name} numel`);
  // Exact: the reference is each stored value widened to float64 by torch (f16/bf16 included).
  got.forEach((v, i) => assert.equal(v, ref.values[i], `${name}[${i}]`));
}

describe('pytorch_model.bin written by torch.save', { skip: SKIP }, () => {
  let dir = '';
  const bert = createBert({ vocab_size: 30, hidden_size: 8, num_hidden_layers: 1, num_attention_heads: 2, intermediate_size: 12, max_position_embeddings: 16, num_labels: 2 }, 'text-classification', { seed: 5 });
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'ft-torchbin-'));
    // Tiny BERT folders whose weights python re-saves as pytorch_model.bin (zip and legacy).
    for (const sub of ['bert-zip', 'bert-legacy']) {
      const out = join(dir, sub);
      await savePretrained(bert, out);
      const st = await readSafetensors(join(out, 'model.safetensors'));
      const dump = Object.fromEntries([...st.tensors].map(([k, e]) => [k, { shape: e.shape, values: Array.from(toFloat32(e)) }]));
      writeFileSync(join(out, 'dump.json'), JSON.stringify(dump));
      rmSync(join(out, 'model.safetensors'));
    }
    execFileSync(PY, ['-c', WRITE, dir], { stdio: ['ignore', 'ignore', 'inherit'] });
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  for (const format of ['zip', 'legacy']) {
    it(`${format} format: every tensor, dtype, view and shared storage`, async () => {
      const ref = JSON.parse(readFileSync(join(dir, 'ref.json'), 'utf8')) as Record<string, { shape: number[]; values: number[] }>;
      const t = await readTorchBin(join(dir, `${format}.bin`));
      assert.deepEqual([...t.keys()].sort(), Object.keys(ref).sort());
      for (const [k, r] of Object.entries(ref)) check(t.get(k)!, r, `${format}:${k}`);
      const dtypes = Object.fromEntries([...t].map(([k, e]) => [k, e.dtype]));
      assert.deepEqual([dtypes.half, dtypes.bf16, dtypes.ids, dtypes.i32, dtypes.mask, dtypes.param], ['F16', 'BF16', 'I64', 'I32', 'BOOL', 'F32']);
      // Contiguous views share the file's bytes (zero-copy); the tied tensor is the same bytes.
      const w = t.get('dense.weight')!;
      const tied = t.get('tied.weight')!;
      assert.equal(w.data.buffer, tied.data.buffer);
      assert.equal(w.data.byteOffset, tied.data.byteOffset);
      assert.equal(t.get('row')!.data.byteOffset, w.data.byteOffset + 2 * 6 * 4);
    });
  }

  it('a folder with pytorch_model.bin (state_dict with _metadata) and a sharded index load through loadCheckpointTensors', async () => {
    const ref = JSON.parse(readFileSync(join(dir, 'folder', 'ref.json'), 'utf8')) as Record<string, number[]>;
    for (const sub of ['folder', 'sharded']) {
      const { tensors, files } = await loadCheckpointTensors(join(dir, sub));
      assert.deepEqual([...tensors.keys()].sort(), Object.keys(ref).sort());
      for (const [k, v] of Object.entries(ref)) assert.deepEqual(Array.from(toFloat64(tensors.get(k)!)), v, `${sub}:${k}`);
      assert.equal(files.length, sub === 'sharded' ? 2 : 1);
    }
  });

  it('fromPretrained loads a model folder that has only pytorch_model.bin (both formats), bit for bit', async () => {
    for (const sub of ['bert-zip', 'bert-legacy']) {
      const out = join(dir, sub);
      assert.equal(existsSync(join(out, 'model.safetensors')), false);
      const warnings: string[] = [];
      const back = await fromPretrained(out, { warn: (m) => warnings.push(m) });
      assert.deepEqual(warnings, []);
      const want = new Map(bert.namedParameters());
      for (const [n, p] of back.namedParameters()) assert.deepEqual(Array.from(p.floatData), Array.from(want.get(n)!.floatData), `${sub}: ${n}`);
    }
  });

  it('a truncated archive is refused, naming the file', () => {
    const bytes = readFileSync(join(dir, 'zip.bin'));
    assert.throws(() => parseTorchBin(bytes.subarray(0, bytes.length - 100), 'cut.bin'), (e: unknown) => e instanceof FinetuneError && /cut\.bin/.test(e.message));
    const legacy = readFileSync(join(dir, 'legacy.bin'));
    assert.throws(() => parseTorchBin(legacy.subarray(0, legacy.length - 7), 'cut.bin'), (e: unknown) => e instanceof FinetuneError && /cut\.bin.*truncated/.test(e.message));
  });
});

describe('hostile pickles are refused and nothing runs', { skip: SKIP }, () => {
  let dir = '';
  let marker = '';
  let names: string[] = [];
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'ft-hostile-'));
    marker = join(dir, 'PWNED');
    names = JSON.parse(execFileSync(PY, ['-c', HOSTILE, join(dir, 'cases'), marker], { encoding: 'utf8' })) as string[];
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  const expected: Record<string, RegExp> = {
    reduce_os_system_p2: /refused global posix\.system/,
    reduce_eval_p2: /refused global (__builtin__|builtins)\.eval/,
    stack_global_p4: /refused global posix\.system/,
    exec_p5: /refused global (__builtin__|builtins)\.exec/,
    nested_in_allowed_ordereddict: /refused global posix\.system/,
    inside_state_dict: /refused global posix\.system/,
    inst_opcode: /opcode INST is not allowed/,
    obj_opcode: /opcode OBJ is not allowed/,
    build_on_list: /BUILD of list/,
    build_setstate_on_dict: /BUILD of dict/,
    deep_nesting: /nesting deeper than/,
    deep_lists: /a state dict|APPEND|not a torch/,
    huge_unicode_length: /truncated/,
    huge_binput_get: /never stored/,
    truncated: /truncated/,
    persid_not_storage: /only \('storage', \.\.\.\) ids/,
    allowed_global_bad_args: /_rebuild_tensor_v2: expects/,
    rebuild_past_storage: /reaches past its storage/,
    storage_key_traversal: /not a plain name/,
    posix_system_global: /refused global posix\.system/,
    builtins_getattr: /refused global (__builtin__|builtins)\.getattr/,
    torch_load_in_global: /refused global torch\.load/,
    zip_reduce_os_system_p2: /refused global posix\.system/,
    zip_stack_global_p4: /refused global posix\.system/,
    zip_nested_in_allowed_ordereddict: /refused global posix\.system/,
  };

  it('every case is refused with its reason, and the marker file never appears', async () => {
    assert.deepEqual([...names].sort(), Object.keys(expected).sort());
    for (const name of names) {
      const file = join(dir, 'cases', `${name}.bin`);
      await assert.rejects(readTorchBin(file), (e: unknown) => {
        assert.ok(e instanceof FinetuneError, `${name}: ${String(e)}`);
        assert.match(e.message, expected[name]!, `${name}: ${e.message}`);
        assert.ok(e.message.includes(file), `${name}: error names the file`);
        return true;
      });
    }
    assert.equal(existsSync(marker), false, 'no hostile pickle ran');
  });

  it('the refusal says what to do next', async () => {
    const file = join(dir, 'cases', 'reduce_os_system_p2.bin');
    await assert.rejects(readTorchBin(file), /nothing is executed.*save_pretrained\(.*safe_serialization=True\)/s);
  });
});
