// Build-time probe run by binding.gyp: are Gloo's headers and library (Debian/Ubuntu libgloo-dev) present?
//   node native/detect-gloo.cjs mode  -> prints "gloo" or "none" (and one line on stderr when none)
//   node native/detect-gloo.cjs libs  -> prints the linker flags (empty when none)
// When "none", binding.gyp leaves the optional finetune_dist target out, so the main addon
// always builds; src/distributed/native.ts then names the package to install. FINETUNE_NO_GLOO=1 forces none.
'use strict';
const { execFileSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

function links() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ft-gloo-'));
  const src = path.join(dir, 't.cc');
  fs.writeFileSync(src, '#include <gloo/rendezvous/file_store.h>\nint main(){gloo::rendezvous::FileStore s("/tmp");(void)s;return 0;}\n');
  try {
    execFileSync(process.env.CXX || 'c++', ['-std=c++17', src, '-o', path.join(dir, 't'), '-lgloo', '-lhiredis', '-pthread'], { stdio: 'ignore' });
    return ['-lgloo', '-lhiredis', '-pthread'];
  } catch {
    try {
      execFileSync(process.env.CXX || 'c++', ['-std=c++17', src, '-o', path.join(dir, 't'), '-lgloo', '-pthread'], { stdio: 'ignore' });
      return ['-lgloo', '-pthread'];
    } catch {
      return null;
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

function detect() {
  if (process.env.FINETUNE_NO_GLOO === '1') return { mode: 'none', libs: [], why: 'FINETUNE_NO_GLOO=1' };
  if (process.platform === 'win32') return { mode: 'none', libs: [], why: 'Windows build' };
  const l = links();
  if (l) return { mode: 'gloo', libs: l, why: '' };
  return { mode: 'none', libs: [], why: 'Gloo not found (Debian/Ubuntu: apt-get install libgloo-dev)' };
}

const r = detect();
if (process.argv[2] === 'libs') {
  process.stdout.write(r.libs.join(' '));
} else {
  if (r.mode === 'none') process.stderr.write(`finetune: ${r.why}: distributed training (finetune launch) will be unavailable\n`);
  process.stdout.write(r.mode);
}
