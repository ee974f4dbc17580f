// The browser studio end to end: `finetune studio`'s server bundles the training core for the browser,
// headless Chromium (playwright-core, Debian's /usr/bin/chromium, WebGPU on SwiftShader) trains a
// compact BERT on SMS Spam Collection rows for a few steps on its GPU adapter, and the losses equal
// the same function run in Node on the CPU backend (1e-4). Skips with a message when chromium, the
// SMS data (../shared) or a WebGPU adapter in the page is missing.

import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';

import { nativeAvailable, nativeBackend } from '../../src/backend/native.ts';
import { referenceBackend } from '../../src/backend/reference.ts';
import { startStudio } from '../../src/cli/studio.ts';
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
          return { losses: r.losses, metrics: r.metrics, adapter: r.adapter, log: document.getElementById('log')?.textContent ?? '' };
        },
        [text, OPTS] as const,
      );
      assert.deepEqual(errors, []);
      assert.match(got.log, /device: webgpu/);
      assert.equal(got.losses.length, 3);
      const cpu: StudioResult = await trainInBrowser(text, nativeAvailable() ? nativeBackend : referenceBackend, { ...STUDIO_DEFAULTS, ...OPTS });
      got.losses.forEach((l, i) => assert.ok(Math.abs(l - cpu.losses[i]) <= 1e-4 * Math.max(1, cpu.losses[i]), `step ${i + 1}: page ${l} vs cpu ${cpu.losses[i]}`));
      assert.ok(Math.abs(got.metrics.accuracy - cpu.metrics.accuracy) < 1e-9, `accuracy ${got.metrics.accuracy} vs ${cpu.metrics.accuracy}`);
    } finally {
      await browser.close();
      server.close();
    }
  });
});
