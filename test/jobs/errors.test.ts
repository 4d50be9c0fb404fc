// A failed write into the data folder, as the job service's callers get it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { JobServiceError, storageError } from '../../companion/jobs/errors.ts';

test('a full disk (ENOSPC, EDQUOT) is 507 disk_full naming the folder and what was lost; other failures are passed on as they are', () => {
  for (const code of ['ENOSPC', 'EDQUOT']) {
    const cause = Object.assign(new Error(`${code}: write`), { code });
    const err = storageError(cause, '/data/jobs', 'the preset was not saved');
    assert.ok(err instanceof JobServiceError);
    assert.deepEqual([err.code, err.status, err.cause], ['disk_full', 507, cause]);
    assert.equal(err.message, `the data folder /data/jobs is full (${code}): the preset was not saved; free some space and try again`);
  }
  const denied = Object.assign(new Error('EACCES: permission denied'), { code: 'EACCES' });
  assert.equal(storageError(denied, '/data/jobs', 'x'), denied);
  assert.equal(storageError(null, '/data/jobs', 'x'), null);
});
