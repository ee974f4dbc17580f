// Device arrays and the async read API on the webgpu backend: tensors live on the device, reads are
// asynchronous (Tensor.read / readItem / sync / syncHost), synchronous reads after a device write
// refuse with a message naming the fix, host-originated data stays readable (lazy mirror), and the
// device buffer pool reuses released buffers. Skips with how to enable it when no adapter is found.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { webgpuAvailability } from '../../../src/backend/webgpu/node.ts';
import * as F from '../../../src/tensor/index.ts';

const gpu = await webgpuAvailability();
const skip = gpu.ok ? false : `no WebGPU adapter (${gpu.reason}); install chromium + libvulkan1 (SwiftShader) or a GPU driver`;

describe('webgpu tensors and async reads', { skip }, () => {
  const be = gpu.ok ? gpu.backend : null;

  it('Tensor.from uploads; host-originated values stay readable synchronously', () => {
    const t = F.Tensor.from([1, 2, 3, 4], [2, 2], 'float32', be!);
    assert.deepEqual(t.toArray(), [1, 2, 3, 4]);
    const ids = F.Tensor.from(new Int32Array([5, 6]), [2], 'int32', be!);
    assert.deepEqual([...ids.intData], [5, 6]);
    t.dispose();
    ids.dispose();
  });

  it('after a device write, sync reads refuse and name the fix; await read() works', async () => {
    const a = F.Tensor.from([1, -2, 3], [3], 'float32', be!);
    const y = F.mul(a, a);
    assert.throws(() => y.toArray(), /synchronous host read of a webgpu tensor.*await tensor\.read\(\)/);
    assert.deepEqual(await y.read(), [1, 4, 9]);
    assert.deepEqual(y.toArray(), [1, 4, 9], 'readable after the download until the next device write');
    const s = F.sum(y);
    assert.equal(await s.readItem(), 14);
    for (const t of [a, y, s]) t.dispose();
  });

  it('views (offsets, transposes) and syncHost', async () => {
    const x = F.Tensor.from([0, 1, 2, 3, 4, 5], [2, 3], 'float32', be!);
    const z = F.add(x, x);
    const col = F.narrow(F.permute(z, [1, 0]), 0, 1, 2); // rows 1..2 of the transpose: a strided view
    await F.syncHost([col]);
    assert.deepEqual(col.toArray(), [2, 8, 4, 10]);
    for (const t of [x, z, col]) t.dispose();
  });

  it('autograd runs on the device: loss and gradients read asynchronously', async () => {
    const w = F.Tensor.parameter(new Float32Array([0.5, -1, 2]), [3], 'w', be!);
    const x = F.Tensor.from([1, 2, 3], [3], 'float32', be!);
    const loss = F.tidy(() => {
      const l = F.sum(F.square(F.mul(w, x)));
      l.backward();
      return l;
    });
    assert.equal(await loss.readItem(), 0.25 + 4 + 36);
    assert.deepEqual(await w.grad!.read(), [2 * 0.5 * 1, 2 * -1 * 4, 2 * 2 * 9]);
    for (const t of [w, x, loss]) t.dispose();
  });

  it('released buffers return to the device pool', () => {
    const mem = gpu.ok ? gpu.backend.deviceMemory : null;
    const before = mem!.liveBytes;
    const t = F.Tensor.zeros([1000], 'float32', be!);
    assert.ok(mem!.liveBytes > before);
    t.dispose();
    assert.equal(mem!.liveBytes, before);
  });

  it('float64 refuses with a message', () => {
    assert.throws(() => F.Tensor.zeros([2], 'float64', be!), /float32 and int32/);
  });
});
