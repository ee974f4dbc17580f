// Parity of the bf16 GEMM and the quantised-weight GEMM: native (AVX512_BF16 kernel where the CPU has it,
// and the portable converted path) against the reference backend, on odd shapes and every transpose;
// bf16 rounding against hand-checked bit patterns; quantise -> dequantise error bounds.
// Not here: autocast in the tensor layer (test/tensor/autocast.test.ts).

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { referenceBackend as ref } from '../../src/backend/reference.ts';
import { bf16Support, nativeBackend as nat, nativeAvailable, nativeDequantize, setBf16Kernel } from '../../src/backend/native.ts';
import { dequantize, fromBf16Bits, NF4_CODE, quantize, quantizedBytes, roundBf16, toBf16Bits, DYNAMIC_CODE, type QuantFormat } from '../../src/backend/quant.ts';
import { assertClose, randF32 } from './parity-helpers.ts';

const skip = nativeAvailable() ? false : 'native addon not built (npm run install)';

describe('bf16 rounding', () => {
  it('rounds to nearest even, keeps NaN quiet and infinities', () => {
    assert.equal(toBf16Bits(1), 0x3f80);
    // 1 + 2^-8 is halfway between 1 and 1 + 2^-7: ties to even (1).
    assert.equal(roundBf16(1 + 2 ** -8), 1);
    // 1 + 3*2^-8 is halfway between 1+2^-7 (odd mantissa) and 1+2^-6: ties to even (1 + 2^-6).
    assert.equal(roundBf16(1 + 3 * 2 ** -8), 1 + 2 ** -6);
    assert.equal(roundBf16(1 + 2 ** -8 + 2 ** -20), 1 + 2 ** -7);
    assert.ok(Number.isNaN(fromBf16Bits(toBf16Bits(NaN))));
    assert.equal(roundBf16(Infinity), Infinity);
    assert.equal(roundBf16(3.4e38), Infinity); // above the largest bf16, rounds up to infinity as RNE does
  });
});

describe('gemmBf16 native vs reference', { skip }, () => {
  const info = skip ? { supported: false, kernel: false } : bf16Support();
  const variants = info.supported ? [true, false] : [false];
  for (const kernel of variants) {
    it(`${kernel ? 'AVX512_BF16 kernel' : 'portable converted path'} on odd shapes and transposes`, () => {
      setBf16Kernel(kernel);
      try {
        console.log(`# bf16 GEMM variant: ${kernel ? 'AVX512_BF16 (VDPBF16PS)' : 'portable (rounded fp32)'}; CPU bf16 dot products: ${info.supported}`);
        let seed = 1;
        for (const [M, N, K] of [[1, 1, 1], [7, 33, 5], [9, 31, 64], [17, 129, 257], [64, 40, 300], [3, 200, 513]]) {
          for (const transA of [false, true]) {
            for (const transB of [false, true]) {
              for (const beta of [0, 0.5]) {
                const a = randF32(M * K, seed++);
                const b = randF32(K * N, seed++);
                const c0 = randF32(M * N, seed++);
                const want = c0.slice();
                const got = c0.slice();
                ref.gemmBf16!(1, M, N, K, 1.5, a, 0, 0, transA, b, 0, 0, transB, beta, want, 0, 0);
                nat.gemmBf16!(1, M, N, K, 1.5, a, 0, 0, transA, b, 0, 0, transB, beta, got, 0, 0);
                assertClose(got, want, `gemmBf16 ${M}x${N}x${K} tA=${transA} tB=${transB} beta=${beta}`, 1e-5, 2e-6 * Math.sqrt(K));
              }
            }
          }
        }
        // batched with offsets and a broadcast B
        const [B, M, N, K] = [3, 5, 19, 11];
        const a = randF32(2 + B * M * K, 91);
        const b = randF32(K * N, 92);
        const want = new Float32Array(B * M * N);
        const got = new Float32Array(B * M * N);
        ref.gemmBf16!(B, M, N, K, 1, a, 2, M * K, false, b, 0, 0, false, 0, want, 0, M * N);
        nat.gemmBf16!(B, M, N, K, 1, a, 2, M * K, false, b, 0, 0, false, 0, got, 0, M * N);
        assertClose(got, want, 'batched gemmBf16', 1e-5, 1e-5);
      } finally {
        setBf16Kernel(true);
      }
    });
  }

  it('differs from the fp32 GEMM by the bf16 rounding of the operands (not a silent fp32 path)', () => {
    const [M, N, K] = [8, 32, 64];
    const a = randF32(M * K, 5);
    const b = randF32(K * N, 6);
    const c32 = new Float32Array(M * N);
    const c16 = new Float32Array(M * N);
    nat.gemm(1, M, N, K, 1, a, 0, 0, false, b, 0, 0, false, 0, c32, 0, 0);
    nat.gemmBf16!(1, M, N, K, 1, a, 0, 0, false, b, 0, 0, false, 0, c16, 0, 0);
    let maxDiff = 0;
    for (let i = 0; i < c32.length; i++) maxDiff = Math.max(maxDiff, Math.abs(c32[i] - c16[i]));
    assert.ok(maxDiff > 1e-4 && maxDiff < 0.1, `bf16 vs fp32 max difference ${maxDiff}`);
  });
});

describe('quantised weights', () => {
  const rows = 37;
  const cols = 130; // not a multiple of the 64 block: blocks straddle rows
  const w = randF32(rows * cols, 11, -0.2, 0.2);

  it('NF4 code is bitsandbytes\' table and the dynamic map has 256 sorted entries in [-1, 1]', () => {
    assert.equal(NF4_CODE.length, 16);
    assert.equal(NF4_CODE[0], -1);
    assert.equal(NF4_CODE[7], 0);
    assert.equal(NF4_CODE[15], 1);
    assert.equal(DYNAMIC_CODE.length, 256);
    for (let i = 1; i < 256; i++) assert.ok(DYNAMIC_CODE[i] >= DYNAMIC_CODE[i - 1]);
    assert.equal(DYNAMIC_CODE[255], 1);
    assert.equal(DYNAMIC_CODE[0], Math.fround(-0.99296875)); // -(0.9859375 + 1) / 2: the midpoint of linspace(0.1, 1, 65)'s last bin
  });

  for (const [format, dq] of [['bf16', false], ['int8', false], ['nf4', false], ['nf4', true]] as [QuantFormat, boolean][]) {
    it(`${format}${dq ? ' + double quant' : ''}: dequantisation error bound`, () => {
      const q = quantize(w, rows, cols, format, { doubleQuant: dq });
      const d = dequantize(q);
      for (let i = 0; i < w.length; i++) {
        const x = w[i];
        let bound: number;
        if (format === 'bf16') bound = Math.abs(x) * 2 ** -8;
        else if (format === 'int8') bound = (0.5 / 127) * 0.2 + 1e-7; // half a step of the row's absmax (<= 0.2)
        else bound = 0.5 * (NF4_CODE[1] - NF4_CODE[0]) * 0.2 * (dq ? 1.01 : 1) + 1e-6; // half the widest NF4 gap
        assert.ok(Math.abs(d[i] - x) <= bound, `${format} element ${i}: ${x} -> ${d[i]} (bound ${bound})`);
      }
      const bytes = quantizedBytes(q);
      const ratio = bytes / (4 * w.length);
      assert.ok(ratio < (format === 'bf16' ? 0.51 : format === 'int8' ? 0.27 : 0.16), `${format} stores ${ratio} of fp32`);
      if (!skip) {
        const nd = new Float32Array(w.length);
        nativeDequantize(q, nd);
        assertClose(nd, d, `native ${format} dequantisation`, 0, 0);
      }
    });

    it(`${format}${dq ? ' + double quant' : ''}: quantised GEMM equals GEMM with the dequantised weight`, { skip }, () => {
      const q = quantize(w, rows, cols, format, { doubleQuant: dq });
      const d = dequantize(q);
      const kernels = bf16Support().supported ? [true, false] : [false];
      for (const [bf16, kernel] of [[false, true], ...kernels.map((k) => [true, k])] as [boolean, boolean][]) {
        setBf16Kernel(kernel);
        // forward: x (M, cols) @ W^T -> (M, rows); input gradient: g (M, rows) @ W -> (M, cols)
        for (const [transW, K, N] of [[true, cols, rows], [false, rows, cols]] as [boolean, number, number][]) {
          for (const transA of [false, true]) {
            const M = 13;
            const a = randF32(M * K, 21);
            const want = new Float32Array(M * N);
            const got = new Float32Array(M * N);
            (bf16 ? nat.gemmBf16! : nat.gemm).call(nat, 1, M, N, K, 1, a, 0, 0, transA, d, 0, 0, transW, 0, want, 0, 0);
            nat.gemmQuant!(M, N, K, 1, a, transA, q, transW, 0, got, bf16);
            assertClose(got, want, `gemmQuant ${format} bf16=${bf16} transW=${transW} transA=${transA}`, 1e-5, 1e-6);
            const refOut = new Float32Array(M * N);
            ref.gemmQuant!(M, N, K, 1, a, transA, q, transW, 0, refOut, bf16);
            assertClose(got, refOut, `gemmQuant vs reference ${format} bf16=${bf16} kernel=${kernel}`, 1e-5, 1e-5);
          }
        }
      }
      setBf16Kernel(true);
    });
  }
});
