// Build-time probe run by binding.gyp: can this machine's C compiler link OpenBLAS's cblas_sgemm?
//   node native/detect-blas.cjs mode  -> prints "openblas" or "builtin" (and one line on stderr when builtin)
//   node native/detect-blas.cjs libs  -> prints the linker flags for OpenBLAS (empty when builtin)
// FINETUNE_NO_BLAS=1 forces the built-in GEMM. Not a general BLAS finder: OpenBLAS only (we call
// openblas_set_num_threads), via pkg-config when present, else plain -lopenblas.
'use strict';
const { execFileSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

function candidates() {
  const out = [];
  try {
    const libs = execFileSync('pkg-config', ['--libs', 'openblas'], { stdio: ['ignore', 'pipe', 'ignore'] })
      .toString()
      .trim();
    if (libs) out.push(libs.split(/\s+/));
  } catch {
    // no pkg-config or no openblas.pc: fall through
  }
  out.push(['-lopenblas']);
  return out;
}

function links(flags) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ft-blas-'));
  const src = path.join(dir, 't.c');
  fs.writeFileSync(
    src,
    'void cblas_sgemm(int,int,int,int,int,int,float,const float*,int,const float*,int,float,float*,int);\n' +
      'void openblas_set_num_threads(int);\n' +
      'int main(void){float a=1,b=1,c=0;openblas_set_num_threads(1);' +
      'cblas_sgemm(101,111,111,1,1,1,1.0f,&a,1,&b,1,0.0f,&c,1);return c==1.0f?0:1;}\n',
  );
  try {
    const cc = process.env.CC || 'cc';
    execFileSync(cc, [src, '-o', path.join(dir, 't'), ...flags], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

function detect() {
  if (process.env.FINETUNE_NO_BLAS === '1') return { mode: 'builtin', libs: [], why: 'FINETUNE_NO_BLAS=1' };
  if (process.platform === 'win32') return { mode: 'builtin', libs: [], why: 'Windows build' };
  for (const flags of candidates()) if (links(flags)) return { mode: 'openblas', libs: flags, why: '' };
  return { mode: 'builtin', libs: [], why: 'OpenBLAS not found (Debian/Ubuntu: apt-get install libopenblas-dev)' };
}

const r = detect();
if (process.argv[2] === 'libs') {
  process.stdout.write(r.libs.join(' '));
} else {
  if (r.mode === 'builtin') process.stderr.write(`finetune: ${r.why}: compiling the built-in GEMM instead of OpenBLAS\n`);
  process.stdout.write(r.mode);
}
