// The browser studio end to end: `finetune studio`'s server bundles the training core for the browser,
// headless Chromium (playwright-core, Debian's /usr/bin/chromium, WebGPU on SwiftShader) trains a
// compact BERT on SMS Spam Collection rows for a few steps on its GPU adapter; the losses equal the same
// function run in Node on the CPU backend (1e-4), and the page's Hugging Face folder (its download links'
// files) loads back in Node with every weight equal to the CPU run's (1e-4). Skips with a message when
// chromium, the SMS data (../shared) or a WebGPU adapter in the page is missing.

import assert from 'node:assert/strict';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';

import { nativeAvailable, nativeBackend } from '../../src/backend/native.ts';
import { referenceBackend } from '../../src/backend/reference.ts';
import { startStudio } from '../../src/cli/studio.ts';
import { loadPretrained } from '../../src/models/pretrained.ts';
import { setDefaultBackend } from '../../src/tensor/index.ts';
import { tempDir } from '../helpers/cli.ts';
import { STUDIO_DEFAULTS, trainInBrowser, type StudioOptions, type StudioResult } from '../../src/web/studio-core.ts';

const CHROMIUM = '/usr/bin/chromium';
const SMS = fileURLToPath(new URL('../../../shared/data/sms-spam-collection/SMSSpamCollection', import.meta.url));
const skip = !existsSync(CHROMIUM)
  ? `${CHROMIUM} not found: apt-get install chromium libvulkan1 to run the browser test`
  : !existsSync(SMS)
    ? `SMS data not found at ${SMS} (../shared)`
    : false;

const OPTS: Partial<StudioOptions> = { steps: 3, batchSize: 4, maxLength: 16, hidden: 32, layers: 1 };

describe('finetune studio in headless Chromium (WebGPU)', { skip }, () => {
  it('trains on the page GPU with the same losses as the CPU run of the same core', async (t) => {
    const text = readFileSync(SMS, 'utf8').split('\n').slice(0, 120).join('\n');
    const { chromium } = await import('playwright-core');
    const { server, url } = await startStudio(0);
    const browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--enable-unsafe-webgpu', '--use-webgpu-adapter=swiftshader', '--no-sandbox'] });
    try {
      const page = await browser.newPage();
      const errors: string[] = [];
      page.on('pageerror', (e) => errors.push(e.message));
      await page.goto(url);
      await page.waitForFunction(() => 'finetuneStudio' in window, null, { timeout: 30_000 });
      const hasGpu = await page.evaluate(async () => {
        const gpu = (navigator as Navigator & { gpu?: { requestAdapter(): Promise<unknown> } }).gpu;
        return gpu ? (await gpu.requestAdapter()) !== null : false;
      });
      if (!hasGpu) {
        t.skip('Chromium has no WebGPU adapter here (needs --enable-unsafe-webgpu and Vulkan/SwiftShader)');
        return;
      }
      const got = await page.evaluate(
        async ([data, opts]) => {
          const r = await window.finetuneStudio.run(data as string, opts as Record<string, number>);
          // What the download links serve: the files behind each blob URL.
          const files: Record<string, number[]> = {};
          for (const a of Array.from(document.querySelectorAll<HTMLAnchorElement>('#downloads a'))) {
            files[a.download] = Array.from(new Uint8Array(await (await fetch(a.href)).arrayBuffer()));
          }
          return { losses: r.losses, metrics: r.metrics, adapter: r.adapter, log: document.getElementById('log')?.textContent ?? '', files };
        },
        [text, OPTS] as const,
      );
      assert.deepEqual(errors, []);
      assert.match(got.log, /device: webgpu/);
      assert.equal(got.losses.length, 3);
      const cpuBackend = nativeAvailable() ? nativeBackend : referenceBackend;
      const cpu: StudioResult = await trainInBrowser(text, cpuBackend, { ...STUDIO_DEFAULTS, ...OPTS });
      got.losses.forEach((l, i) => assert.ok(Math.abs(l - cpu.losses[i]) <= 1e-4 * Math.max(1, cpu.losses[i]), `step ${i + 1}: page ${l} vs cpu ${cpu.losses[i]}`));
      assert.ok(Math.abs(got.metrics.accuracy - cpu.metrics.accuracy) < 1e-9, `accuracy ${got.metrics.accuracy} vs ${cpu.metrics.accuracy}`);
      // The download, loaded back in Node, holds the CPU run's weights.
      const dir = tempDir();
      assert.deepEqual(Object.keys(got.files).sort(), Object.keys(cpu.files).sort());
      for (const [name, bytes] of Object.entries(got.files)) writeFileSync(join(dir, name), Uint8Array.from(bytes));
      setDefaultBackend(cpuBackend);
      const { model, info } = await loadPretrained(dir, { task: 'text-classification' });
      assert.deepEqual([info.missingKeys, info.unexpectedKeys], [[], []]);
      assert.equal(model.architecture, 'BertForSequenceClassification');
      const cpuDir = tempDir();
      for (const [name, bytes] of Object.entries(cpu.files)) writeFileSync(join(cpuDir, name), bytes);
      const ref = (await loadPretrained(cpuDir, { task: 'text-classification' })).model;
      const refParams = new Map(ref.namedParameters());
      for (const [name, p] of model.namedParameters()) {
        const a = p.toArray();
        const b = refParams.get(name)!.toArray();
        const scale = Math.max(1e-2, ...b.map(Math.abs));
        a.forEach((v, i) => assert.ok(Math.abs(v - b[i]) <= 1e-4 * scale, `${name}[${i}]: ${v} vs ${b[i]}`));
      }
    } finally {
      await browser.close();
      server.close();
    }
  });
});
