// GPT-2's byte ↔ printable-char table (bytes_to_unicode): byte-level BPE sees every UTF-8 byte as
// one visible char ('Ġ' is the space byte). Not here: the pre-tokenizer or decoder that use it.

function buildBytesChar(): string[] {
  const bs: number[] = [];
  for (let b = 0x21; b <= 0x7e; b++) bs.push(b);
  for (let b = 0xa1; b <= 0xac; b++) bs.push(b);
  for (let b = 0xae; b <= 0xff; b++) bs.push(b);
  const cs = bs.slice();
  let n = 0;
  for (let b = 0; b < 256; b++) {
    if (!bs.includes(b)) {
      bs.push(b);
      cs.push(256 + n);
      n++;
    }
  }
  const out = new Array<string>(256);
  bs.forEach((b, i) => (out[b] = String.fromCodePoint(cs[i]!)));
  return out;
}

/** BYTES_CHAR[byte] = the char standing for that byte. */
export const BYTES_CHAR: readonly string[] = buildBytesChar();

/** The inverse map: char → byte. */
export const CHAR_BYTES: ReadonlyMap<string, number> = new Map(BYTES_CHAR.map((c, b) => [c, b]));
