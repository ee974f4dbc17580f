// A test-only tokenizer for stories260K: llama2.c's BPE encoder (run.c `encode`) over tok512.bin —
// dummy-prefix space, per-codepoint lookup with byte fallback (<0xNN> = id byte + 3), then greedy
// merges by highest score. An independent way to turn text into the model's ids (the folder has no
// tokenizer.json). Not a general SentencePiece implementation.

import { readFileSync } from 'node:fs';

export class Llama2cTokenizer {
  readonly pieces: string[] = [];
  private readonly scores: number[] = [];
  private readonly ids = new Map<string, number>();
  readonly bosTokenId = 1;
  readonly eosTokenId = 2;

  constructor(file: string) {
    const buf = readFileSync(file);
    const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
    let off = 4; // max_token_length
    const dec = new TextDecoder();
    while (off < buf.byteLength) {
      const score = view.getFloat32(off, true);
      const len = view.getInt32(off + 4, true);
      const piece = dec.decode(buf.subarray(off + 8, off + 8 + len));
      off += 8 + len;
      this.ids.set(piece, this.pieces.length);
      this.pieces.push(piece);
      this.scores.push(score);
    }
  }

  encode(text: string, _pair: null = null, opts: { addSpecialTokens?: boolean } = {}): { ids: number[] } {
    const t: number[] = [];
    if (opts.addSpecialTokens ?? true) t.push(this.bosTokenId);
    if (text !== '') t.push(this.ids.get(' ') as number);
    for (const ch of text) {
      const id = this.ids.get(ch);
      if (id !== undefined) t.push(id);
      else for (const b of new TextEncoder().encode(ch)) t.push(b + 3);
    }
    for (;;) {
      let best = -1e10;
      let bestId = -1;
      let bestIdx = -1;
      for (let i = 0; i + 1 < t.length; i++) {
        const id = this.ids.get(this.pieces[t[i]] + this.pieces[t[i + 1]]);
        if (id !== undefined && this.scores[id] > best) {
          best = this.scores[id];
          bestId = id;
          bestIdx = i;
        }
      }
      if (bestIdx < 0) break;
      t.splice(bestIdx, 2, bestId);
    }
    return { ids: t };
  }

  applyChatTemplate(): string {
    throw new Error('stories260K has no chat template');
  }
}
