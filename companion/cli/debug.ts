// `tokenflow debug <sub>`: parity and inspection tools that run one model component on its
// own, for comparing with the Python reference. Each sub-command is a row of `subcommands`;
// heavy dependencies (ONNX Runtime) belong inside a sub-command's `run`, loaded on use.
import { existsSync } from 'node:fs';
import path from 'node:path';
import { UsageError, type Command } from './command.ts';
import { parseCommandLine } from './options.ts';
import { ClipTokenizer } from '../models/clip_tokenizer.ts';
import { placementCommand } from './debug_placement.ts';
import { runCommand } from './debug_run.ts';
import { tokenflowCommand } from './debug_tokenflow.ts';

const tokenize: Command = {
  help: [
    'tokenflow debug tokenize --model DIR TEXT...',
    '  Prints the CLIP token ids of each TEXT (77 ids: bos, tokens, eos, padding) as one JSON',
    '  array per line, exactly as `tokenizer(text, padding="max_length", truncation=True)`.',
    '  DIR is a diffusers model folder (its tokenizer/ is used) or a tokenizer folder itself.',
  ].join('\n'),
  async run(args) {
    const { values, positionals } = parseCommandLine(args, { model: { type: 'string' } }, Infinity);
    if (!values.model) throw new UsageError('--model DIR is required');
    if (positionals.length === 0) throw new UsageError('give at least one TEXT to tokenize');
    const tokenizer = await ClipTokenizer.load(tokenizerDir(values.model));
    for (const text of positionals) console.log(JSON.stringify(tokenizer.encode(text).inputIds));
    return 0;
  },
};

/** `<model>/tokenizer` for a diffusers model folder, else the folder itself. */
function tokenizerDir(model: string): string {
  const candidates = [path.join(model, 'tokenizer'), model];
  const dir = candidates.find((d) => existsSync(path.join(d, 'vocab.json')));
  if (!dir) throw new Error(`no CLIP tokenizer in ${model} (looked for ${candidates.map((d) => path.join(d, 'vocab.json')).join(' and ')})`);
  return dir;
}

const subcommands: Record<string, Command> = {
  tokenize,
  placement: placementCommand,
  run: runCommand,
  tokenflow: tokenflowCommand,
};

export const command: Command = {
  get help() {
    return [
      'Usage: tokenflow debug <sub-command> [options]',
      '',
      ...Object.keys(subcommands).sort().map((name) => subcommands[name]!.help),
    ].join('\n');
  },
  async run(args) {
    const [name, ...rest] = args;
    if (!name) throw new UsageError('missing sub-command');
    const sub = subcommands[name];
    if (!sub) throw new UsageError(`unknown sub-command "${name}"`);
    return sub.run(rest);
  },
};
