// The fake must refuse what the real host refuses, or the adapter tests prove nothing.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createFakePremiere, FakeTickTime, RuleViolation, TPS, type FakeProject } from './fake_premierepro.ts';

const TPF24 = TPS / 24n;

function world() {
  const fake = createFakePremiere();
  fake.addMedia({ path: '/media/a.mov', fps: 24, frames: 48 });
  const seq = fake.addSequence('Seq', TPF24, 2, 1);
  const clip = fake.addClip('/media/a.mov');
  const item = fake.addTrackItem(seq, { track: 0, item: clip, startFrame: 24 });
  const ppro = fake.ppro as any;
  const project = fake.project as FakeProject;
  return { fake, seq, clip, item, ppro, project };
}

test('actions can only be created inside lockedAccess or a transaction', () => {
  const { seq, clip, ppro, project } = world();
  const editor = ppro.SequenceEditor.getEditor(seq);
  assert.throws(() => editor.createOverwriteItemAction(clip, ppro.TickTime.TIME_ZERO, 1, 0), RuleViolation);
  assert.throws(() => project.root.createBinAction('x', false), RuleViolation);
  project.lockedAccess(() => {
    assert.ok(editor.createOverwriteItemAction(clip, ppro.TickTime.TIME_ZERO, 1, 0));
  });
});

test('addAction only inside executeTransaction, with an action from the same scope', () => {
  const { seq, clip, ppro, project } = world();
  const editor = ppro.SequenceEditor.getEditor(seq);
  let escaped: unknown;
  project.lockedAccess(() => {
    escaped = editor.createOverwriteItemAction(clip, ppro.TickTime.TIME_ZERO, 1, 0);
  });
  project.lockedAccess(() => {
    assert.throws(() => project.executeTransaction((ca: any) => ca.addAction(escaped), 'x'), /escaped/);
  });
  let kept: any;
  project.lockedAccess(() => {
    project.executeTransaction((ca: any) => {
      kept = ca;
    }, 'empty');
  });
  assert.throws(() => kept.addAction({}), RuleViolation);
});

test('lock and transaction callbacks must be synchronous; transactions need a lock and a label', () => {
  const { project } = world();
  assert.throws(() => project.lockedAccess((async () => {}) as any), /synchronous/);
  assert.throws(() => project.executeTransaction(() => {}, 'x'), /inside project.lockedAccess/);
  project.lockedAccess(() => {
    assert.throws(() => project.executeTransaction(() => {}), /undo label/);
    assert.throws(() => project.executeTransaction((async () => {}) as any, 'x'), /synchronous/);
  });
});

test('a transaction is one undo step; undo restores the timeline', () => {
  const { fake, seq, clip, ppro, project } = world();
  const before = JSON.stringify(fake.timeline(seq));
  const editor = ppro.SequenceEditor.getEditor(seq);
  project.lockedAccess(() => {
    project.executeTransaction((ca: any) => {
      ca.addAction(editor.createOverwriteItemAction(clip, ppro.TickTime.createWithTicks((TPF24 * 10n).toString()), 0, 0));
      ca.addAction(editor.createInsertProjectItemAction(clip, ppro.TickTime.TIME_ZERO, 5, 1, true));
    }, 'two edits');
  });
  assert.deepEqual(fake.undoLabels(), ['two edits']);
  assert.equal(seq.videoTracks.length, 3, 'insert past the last track adds one');
  assert.notEqual(JSON.stringify(fake.timeline(seq)), before);
  assert.equal(fake.undo(), 'two edits');
  assert.equal(JSON.stringify(fake.timeline(seq)), before);
  assert.equal(seq.videoTracks.length, 2);
});

test('ticks are strings; getters are async; importFiles refuses undefined as the bin', async () => {
  const { item, ppro, project } = world();
  assert.throws(() => ppro.TickTime.createWithTicks(254016000000 as any), /decimal string/);
  const start = item.getStartTime();
  assert.ok(start instanceof Promise);
  assert.ok((await start) instanceof FakeTickTime);
  await assert.rejects(project.importFiles(['/media/a.mov'], true, undefined, false), /Illegal Parameter type/);
  assert.equal(await project.importFiles(['/nope.mov'], true, null, false), false);
});

test('overwrite onto a missing track is refused (host behaviour undocumented)', () => {
  const { seq, clip, ppro, project } = world();
  const editor = ppro.SequenceEditor.getEditor(seq);
  project.lockedAccess(() => {
    assert.throws(() => editor.createOverwriteItemAction(clip, ppro.TickTime.TIME_ZERO, 2, 0), /does not exist/);
  });
});
