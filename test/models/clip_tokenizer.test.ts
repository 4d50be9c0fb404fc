import { test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFile, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ClipTokenizer, normalize } from '../../companion/models/clip_tokenizer.ts';

const TOKENIZER = 'test/fixtures/tiny-sd15/tokenizer';

interface GoldenCase {
  text: string;
  normalized_text: string;
  bpe_tokens: string[];
  ids_untruncated: number[];
  truncated: boolean;
  input_ids: number[];
  attention_mask: number[];
}
const golden = JSON.parse(readFileSync('test/fixtures/tiny-sd15/golden/tokenizer.json', 'utf8')) as {
  bos_token_id: number; eos_token_id: number; pad_token_id: number; model_max_length: number; cases: GoldenCase[];
};
const tokenizer = ClipTokenizer.load(TOKENIZER);

test('special token ids and max length come from the tokenizer config', async () => {
  const tok = await tokenizer;
  assert.equal(golden.cases.length, 13);
  assert.deepEqual([tok.bosId, tok.eosId, tok.padId, tok.maxLength],
    [golden.bos_token_id, golden.eos_token_id, golden.pad_token_id, golden.model_max_length]);
});

for (const [i, c] of golden.cases.entries()) {
  test(`golden case ${i}: ${JSON.stringify(c.text.slice(0, 40))}`, async () => {
    const tok = await tokenizer;
    assert.equal(normalize(c.text), c.normalized_text, 'normalized_text');
    assert.deepEqual(tok.bpeTokens(c.text), c.bpe_tokens, 'bpe_tokens');
    assert.deepEqual(tok.encodeUntruncated(c.text), c.ids_untruncated, 'ids_untruncated');
    assert.equal(c.ids_untruncated.length > 77, c.truncated, 'truncated');
    const { inputIds, attentionMask } = tok.encode(c.text);
    assert.deepEqual(inputIds, c.input_ids, 'input_ids');
    assert.deepEqual(attentionMask, c.attention_mask, 'attention_mask');
  });
}

test('special tokens in the prompt are emitted directly, not BPE-encoded', async () => {
  const tok = await tokenizer;
  assert.deepEqual(tok.bpeTokens('a photo<|endoftext|>of'), ['a</w>', 'photo</w>', '<|endoftext|>', 'of</w>']);
  assert.deepEqual(tok.encodeUntruncated('a photo<|endoftext|>of'), [49406, 320, 1125, 49407, 539, 49407]);
});

test('SD 2.x convention: pad token "!" from the config pads with id 0 and is split out of the text', async () => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'tokenflow-sd2-tokenizer-'));
  try {
    await mkdir(dir, { recursive: true });
    for (const f of ['vocab.json', 'merges.txt']) await copyFile(path.join(TOKENIZER, f), path.join(dir, f));
    // The shape of stabilityai/stable-diffusion-2-1-base's tokenizer/ configs.
    const spec = (content: string) => ({ content, lstrip: false, normalized: true, rstrip: false, single_word: false });
    await writeFile(path.join(dir, 'tokenizer_config.json'), JSON.stringify({
      tokenizer_class: 'CLIPTokenizer', model_max_length: 77, bos_token: spec('<|startoftext|>'),
      eos_token: spec('<|endoftext|>'), unk_token: spec('<|endoftext|>'), pad_token: '!',
    }));
    await writeFile(path.join(dir, 'special_tokens_map.json'), JSON.stringify({
      bos_token: spec('<|startoftext|>'), eos_token: spec('<|endoftext|>'), unk_token: spec('<|endoftext|>'), pad_token: '!',
    }));
    const tok = await ClipTokenizer.load(dir);
    assert.equal(tok.padToken, '!');
    assert.equal(tok.padId, 0);
    const { inputIds, attentionMask } = tok.encode('a photo');
    assert.deepEqual(inputIds.slice(0, 5), [49406, 320, 1125, 49407, 0]);
    assert.ok(inputIds.slice(4).every((id) => id === 0));
    assert.deepEqual(attentionMask.slice(0, 5), [1, 1, 1, 1, 0]);
    // transformers splits on the pad token first (diffusers issue #4153): "!!!" is three ids 0.
    assert.deepEqual(tok.encode('! !! !!!').inputIds.slice(0, 9), [49406, 0, 0, 0, 0, 0, 0, 49407, 0]);
    // SD 1.x, for contrast: "!!!" is one BPE token, padding is eos.
    const sd1 = await tokenizer;
    assert.deepEqual(sd1.encode('! !! !!!').inputIds.slice(0, 6), [49406, 256, 748, 995, 49407, 49407]);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('a missing or broken tokenizer file is named in the error', async () => {
  await assert.rejects(ClipTokenizer.load('test/fixtures/tiny-sd15/nowhere'), /nowhere\/merges\.txt/);
  const dir = await mkdtemp(path.join(os.tmpdir(), 'tokenflow-bad-tokenizer-'));
  try {
    await writeFile(path.join(dir, 'merges.txt'), '#version: 0.2\n');
    await writeFile(path.join(dir, 'vocab.json'), '{"a": 0');
    await assert.rejects(ClipTokenizer.load(dir), /vocab\.json is not valid JSON/);
    await writeFile(path.join(dir, 'vocab.json'), '{"a": 0}');
    await assert.rejects(ClipTokenizer.load(dir), /special token "<\|startoftext\|>" is not in vocab\.json/);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
