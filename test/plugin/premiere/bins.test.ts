import assert from 'node:assert/strict';
import { test } from 'node:test';
import { findOrCreateBin, ImportError, importIntoBin, RENDERS_BIN } from '../../../plugin/src/premiere/bins.ts';
import type { Ppro, Project } from '../../../plugin/src/premiere/ppro.ts';
import { createFakePremiere } from '../fake_premierepro.ts';

function world() {
  const fake = createFakePremiere();
  fake.addMedia({ path: '/renders/job-1.mov', fps: 24, frames: 48 });
  return { fake, ppro: fake.ppro as unknown as Ppro, project: fake.project as unknown as Project };
}

test('creates the renders bin once, as its own undo step, then finds it', async () => {
  const { fake, ppro, project } = world();
  const bin = await findOrCreateBin(ppro, project);
  assert.equal(bin.name, RENDERS_BIN);
  assert.deepEqual(fake.undoLabels(), [`Create bin ${RENDERS_BIN}`]);
  const again = await findOrCreateBin(ppro, project);
  assert.equal(again, bin);
  assert.equal(fake.project.root.items.filter((i) => i.name === RENDERS_BIN).length, 1);
  assert.equal(fake.undoLabels().length, 1);
});

test('imports into the bin and returns the item; a second import of the same file reuses it', async () => {
  const { fake, ppro, project } = world();
  const bin = await findOrCreateBin(ppro, project);
  const clip = await importIntoBin(ppro, project, bin, '/renders/job-1.mov');
  assert.equal(await clip.getMediaFilePath(), '/renders/job-1.mov');
  assert.equal(fake.bin(RENDERS_BIN)!.items.length, 1);
  const again = await importIntoBin(ppro, project, bin, '/renders/job-1.mov');
  assert.equal(again, clip);
  assert.equal(fake.project.imports.length, 1, 'imported once');
});

test('an item that appears after importFiles resolves is found when IMPORT_MEDIA_COMPLETE arrives, not by polling', async () => {
  const { fake, ppro, project } = world();
  fake.importLatencyMs = 60;
  const bin = await findOrCreateBin(ppro, project);
  // A backstop far beyond the test's length: only the event can wake the wait.
  const clip = await importIntoBin(ppro, project, bin, '/renders/job-1.mov', { recheckMs: 60_000 });
  assert.equal(await clip.getMediaFilePath(), '/renders/job-1.mov');
  // Looked up before the import, right after it, and once on the event (plus the check above).
  assert.equal(fake.callCount('ClipProjectItem.getMediaFilePath'), 2);
  assert.equal(fake.listenerCount(fake.constants.OperationCompleteEvent.IMPORT_MEDIA_COMPLETE), 0, 'listener removed');
});

test('without the event, the backstop lookup finds the item', async () => {
  const { fake, ppro, project } = world();
  fake.importLatencyMs = 60;
  fake.importEvents = false;
  const bin = await findOrCreateBin(ppro, project);
  const clip = await importIntoBin(ppro, project, bin, '/renders/job-1.mov', { recheckMs: 20 });
  assert.equal(await clip.getMediaFilePath(), '/renders/job-1.mov');
});

test('a failed import event ends the wait with the reason', async () => {
  const { fake, ppro, project } = world();
  fake.importLatencyMs = 10_000;
  const bin = await findOrCreateBin(ppro, project);
  const waiting = importIntoBin(ppro, project, bin, '/renders/job-1.mov', { recheckMs: 60_000 });
  setTimeout(() => fake.emit(fake.constants.OperationCompleteEvent.IMPORT_MEDIA_COMPLETE, { state: (fake.ppro as unknown as Ppro).OperationCompleteEvent.OPERATION_STATE_FAILED }), 20);
  await assert.rejects(waiting, (e: unknown) => e instanceof ImportError && e.message === "Premiere's import of /renders/job-1.mov failed");
});

test('a refused import and an item that never appears are clear errors', async () => {
  const { fake, ppro, project } = world();
  const bin = await findOrCreateBin(ppro, project);
  await assert.rejects(importIntoBin(ppro, project, bin, '/renders/missing.mov'), (e: unknown) => e instanceof ImportError && /did not import \/renders\/missing\.mov/.test(e.message));
  fake.importLatencyMs = 10_000;
  await assert.rejects(importIntoBin(ppro, project, bin, '/renders/job-1.mov', { timeoutMs: 50, recheckMs: 10 }), /did not appear in the bin "TokenFlow renders" within 0.05 s/);
});
