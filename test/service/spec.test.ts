// What a login service keeps of the installing shell: the settings `tokenflow serve` reads, so
// the daemon started at login runs as the one started by hand, and no secret.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { refusePasswordInQueue, serviceSpec } from '../../companion/service/spec.ts';

const folders = { configDir: '/home/ed/.config/tokenflow', dataDir: '/home/ed/.local/share/tokenflow', outputDir: '/home/ed/Videos/TokenFlow Renders' };

test("the daemon's settings are kept: providers, the farm queue, debug lines, the XDG folders", () => {
  const env = {
    TOKENFLOW_PROVIDERS: 'webgpu,cpu',
    TOKENFLOW_QUEUE: 'redis://farm.lan:6379/0',
    TOKENFLOW_DEBUG: '1',
    TOKENFLOW_PORT: '43200',
    HF_HOME: '/data/hf',
    XDG_CONFIG_HOME: '/home/ed/cfg',
    XDG_DATA_HOME: '/data/ed',
    XDG_CACHE_HOME: '/scratch/ed',
  };
  const { environment } = serviceSpec(folders, env, '/usr/bin/node', '/opt/tokenflow/bin/tokenflow.mjs');
  assert.deepEqual(environment, env);
});

test('secrets stay out of the service file: HF_TOKEN and the queue password', () => {
  const env = { HF_TOKEN: 'hf_secret', HUGGING_FACE_HUB_TOKEN: 'hf_old', TOKENFLOW_QUEUE_PASSWORD: 'redis-secret', TOKENFLOW_MODEL: 'tiny-sd15' };
  const { environment } = serviceSpec(folders, env, '/usr/bin/node', '/opt/tokenflow/bin/tokenflow.mjs');
  assert.deepEqual(environment, { TOKENFLOW_MODEL: 'tiny-sd15' });
});

test('the queue password is handed over apart, with the file in the config folder it goes to', () => {
  const spec = serviceSpec(folders, { TOKENFLOW_QUEUE_PASSWORD: 'redis-secret' }, '/usr/bin/node', '/opt/tokenflow/bin/tokenflow.mjs');
  assert.deepEqual(spec.queuePassword, { file: '/home/ed/.config/tokenflow/queue-password', value: 'redis-secret' });
  assert.equal(serviceSpec(folders, {}, '/usr/bin/node', '/opt/tokenflow/bin/tokenflow.mjs').queuePassword.value, undefined);
});

test('a queue address holding a password is refused for an install, not written into the service file', () => {
  assert.doesNotThrow(() => refusePasswordInQueue('redis://render@farm.lan:6379/0'));
  assert.doesNotThrow(() => refusePasswordInQueue(undefined));
  assert.throws(() => refusePasswordInQueue('redis://render:s3cret@farm.lan:6379/0'), (err: Error) => {
    assert.match(err.message, /TOKENFLOW_QUEUE holds a password/);
    assert.match(err.message, /TOKENFLOW_QUEUE_PASSWORD to the password/);
    assert.doesNotMatch(err.message, /s3cret/);
    return true;
  });
});
