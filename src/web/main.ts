// The studio page's script (bundled by `finetune studio` for the browser): wires the form to
// trainInBrowser on navigator.gpu and renders the loss and metrics live. `window.finetuneStudio.run`
// is the same call, for scripts and the end-to-end test. Not here: training (studio-core.ts).

import { browserWebGpuBackend } from '../backend/webgpu/device.ts';
import { STUDIO_DEFAULTS, trainInBrowser, type StudioOptions, type StudioResult } from './studio-core.ts';

const $ = <T extends HTMLElement>(id: string): T => document.getElementById(id) as T;

function log(line: string): void {
  const el = $('log');
  el.textContent += `${line}\n`;
}

async function run(text: string, opts: Partial<StudioOptions> = {}): Promise<StudioResult & { adapter: string }> {
  const backend = await browserWebGpuBackend();
  log(`device: webgpu (${backend.runtime.adapterName})`);
  const result = await trainInBrowser(text, backend, { ...STUDIO_DEFAULTS, ...opts }, {
    onMessage: log,
    onStep: (s) => {
      log(`step ${s.step}/${s.steps}: loss ${s.loss.toFixed(4)}, lr ${s.lr.toExponential(2)}, grad norm ${s.gradNorm.toFixed(3)}`);
      $('loss').textContent = s.loss.toFixed(4);
    },
  });
  log(`evaluation on ${result.evalExamples} held-out rows: ${Object.entries(result.metrics).map(([k, v]) => `${k} ${v.toFixed(4)}`).join(', ')}`);
  const list = $('downloads');
  list.textContent = 'download the Hugging Face folder (put the files in one folder): ';
  for (const [name, bytes] of Object.entries(result.files)) {
    const a = document.createElement('a');
    a.href = URL.createObjectURL(new Blob([bytes.slice()]));
    a.download = name;
    a.textContent = name;
    list.append(a, ' ');
  }
  return { ...result, adapter: backend.runtime.adapterName };
}

declare global {
  interface Window {
    finetuneStudio: { run: typeof run };
  }
}
window.finetuneStudio = { run };

$('file').addEventListener('change', async () => {
  const f = $<HTMLInputElement>('file').files?.[0];
  if (f) $<HTMLTextAreaElement>('data').value = await f.text();
});
$('train').addEventListener('click', () => {
  const opts: Partial<StudioOptions> = {
    format: $<HTMLSelectElement>('format').value as 'tsv' | 'csv',
    textColumn: $<HTMLInputElement>('text-column').value,
    labelColumn: $<HTMLInputElement>('label-column').value,
    steps: Number($<HTMLInputElement>('steps').value),
  };
  run($<HTMLTextAreaElement>('data').value, opts).catch((e: unknown) => log(`error: ${e instanceof Error ? e.message : String(e)}`));
});
