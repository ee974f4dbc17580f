// `finetune serve` takes its bearer token from --token, --api-token-file or $FINETUNE_API_TOKEN (so it need
// not appear in `ps`).

import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { resolveApiToken } from '../../src/cli/deploy.ts';
import { tempDir } from '../helpers/cli.ts';

test('bearer token from the flag, a file or the environment', () => {
  const d = tempDir();
  writeFileSync(join(d, 'tok'), 's3cret-token\nignored\n');
  writeFileSync(join(d, 'empty'), '\n');
  assert.equal(resolveApiToken('flag-token', undefined, 'env-token'), 'flag-token');
  assert.equal(resolveApiToken(undefined, join(d, 'tok'), 'env-token'), 's3cret-token');
  assert.equal(resolveApiToken(undefined, undefined, ' env-token \n'), 'env-token');
  assert.equal(resolveApiToken(undefined, undefined, undefined), undefined);
  assert.equal(resolveApiToken(undefined, undefined, ''), undefined);
  assert.throws(() => resolveApiToken('a', join(d, 'tok'), undefined), /either --token or --api-token-file/);
  assert.throws(() => resolveApiToken(undefined, join(d, 'missing'), undefined), /cannot read .*missing.*--api-token-file/);
  assert.throws(() => resolveApiToken(undefined, join(d, 'empty'), undefined), /is empty/);
});
