// The torchrun environment contract (src/distributed/env.ts): single process when WORLD_SIZE is unset
// or 1, every field read, errors naming the variable, rendezvous specs parsed.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseRendezvous, readDistEnv } from '../../src/distributed/env.ts';

describe('readDistEnv', () => {
  it('is null for a single process', () => {
    assert.equal(readDistEnv({}), null);
    assert.equal(readDistEnv({ WORLD_SIZE: '1', RANK: '0' }), null);
  });

  it('reads the torchrun variables and the rendezvous', () => {
    const e = readDistEnv({ WORLD_SIZE: '4', RANK: '3', LOCAL_RANK: '1', MASTER_ADDR: 'node0', MASTER_PORT: '29501', FINETUNE_RDZV: 'redis://node0:6380', FINETUNE_DIST_TIMEOUT: '12' });
    assert.deepEqual(e, { rank: 3, worldSize: 4, localRank: 1, masterAddr: 'node0', masterPort: 29501, rendezvous: { kind: 'redis', host: 'node0', port: 6380 }, timeoutMs: 12000 });
  });

  it('names the variable that is wrong', () => {
    assert.throws(() => readDistEnv({ WORLD_SIZE: '2', FINETUNE_RDZV: '/tmp/x' }), /RANK.*is not set/);
    assert.throws(() => readDistEnv({ WORLD_SIZE: '2', RANK: '2', FINETUNE_RDZV: '/tmp/x' }), /RANK.*not below WORLD_SIZE 2/);
    assert.throws(() => readDistEnv({ WORLD_SIZE: '2', RANK: '0' }), /FINETUNE_RDZV.*is not set/);
    assert.throws(() => readDistEnv({ WORLD_SIZE: 'two', RANK: '0' }), /WORLD_SIZE.*"two"/);
  });

  it('parses rendezvous specs', () => {
    assert.deepEqual(parseRendezvous('/shared/rdzv'), { kind: 'file', path: '/shared/rdzv' });
    assert.deepEqual(parseRendezvous('file:///shared/rdzv'), { kind: 'file', path: '/shared/rdzv' });
    assert.deepEqual(parseRendezvous('redis://h'), { kind: 'redis', host: 'h', port: 6379 });
    assert.throws(() => parseRendezvous('tcp://h:1'), /FINETUNE_RDZV/);
  });
});
