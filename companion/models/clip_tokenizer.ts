// CLIP byte-level BPE tokenizer, mirroring transformers' (slow) `CLIPTokenizer` (4.38) as
// Stable Diffusion pipelines call it: `tokenizer(text, padding="max_length", truncation=True)`.
// Reads a diffusers `tokenizer/` folder: vocab.json, merges.txt, tokenizer_config.json and
// special_tokens_map.json.
// https://github.com/huggingface/transformers/blob/v4.38.0/src/transformers/models/clip/tokenization_clip.py
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { fixText, whitespaceClean } from './fix_text.ts';

const BOS = '<|startoftext|>';
const EOS = '<|endoftext|>';

/** The pre-tokenizer: special tokens, English contractions, letter runs, single digits, and
 * runs of anything else that is not whitespace. Applied to lower-cased text. */
const PIECE_RE = /<\|startoftext\|>|<\|endoftext\|>|'s|'t|'re|'ve|'m|'ll|'d|\p{L}+|\p{N}|[^\s\p{L}\p{N}]+/giu;

/** CLIP reads only this many merges (49152 - 256 - 2), ignoring any further lines. */
const MAX_MERGES = 48894;

/** Model context when tokenizer_config.json names none: CLIP's 77 positions. */
const DEFAULT_MAX_LENGTH = 77;

/** GPT-2's reversible byte -> printable character table: printable Latin-1 bytes map to
 * themselves, the rest to U+0100 onwards in byte order. */
function byteToUnicode(): string[] {
  const table: string[] = new Array(256);
  let next = 256;
  for (let b = 0; b < 256; b++) {
    const printable = (b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || (b >= 0xae && b <= 0xff);
    table[b] = String.fromCodePoint(printable ? b : next++);
  }
  return table;
}
const BYTE_CHARS = byteToUnicode();
const UTF8 = new TextEncoder();

/** The text the BPE sees: `whitespace_clean(ftfy.fix_text(text)).lower()`. */
export function normalize(text: string): string {
  return whitespaceClean(fixText(text)).toLowerCase();
}

export interface Encoding {
  /** bos, up to maxLength - 2 token ids, eos, then pad ids: always `maxLength` long. */
  inputIds: number[];
  /** 1 for bos, tokens and eos; 0 for padding. */
  attentionMask: number[];
}

type TokenSpec = string | { content: string } | null | undefined;

interface TokenizerFiles {
  vocab: Record<string, number>;
  merges: string;
  config: Record<string, unknown>;
  specialTokensMap: Record<string, unknown>;
}

export class ClipTokenizer {
  readonly maxLength: number;
  readonly bosId: number;
  readonly eosId: number;
  readonly padId: number;
  readonly padToken: string;
  private readonly vocab: Map<string, number>;
  private readonly ranks: Map<string, number>;
  private readonly unkId: number;
  /** Special tokens split out of the raw text before clean-up, longest first. */
  private readonly specialTokens: string[];
  private readonly specialIds = new Map<string, number>();
  private readonly bpeCache = new Map<string, string[]>([[BOS, [BOS]], [EOS, [EOS]]]);

  /** Loads `vocab.json`, `merges.txt` and the token configs from a diffusers `tokenizer/` folder. */
  static async load(dir: string): Promise<ClipTokenizer> {
    const readJson = async (name: string, optional: boolean): Promise<Record<string, unknown>> => {
      const file = path.join(dir, name);
      let text: string;
      try {
        text = await readFile(file, 'utf8');
      } catch (err) {
        if (optional && (err as NodeJS.ErrnoException).code === 'ENOENT') return {};
        throw new Error(`tokenizer: cannot read ${file}: ${(err as Error).message}`);
      }
      try {
        return JSON.parse(text) as Record<string, unknown>;
      } catch (err) {
        throw new Error(`tokenizer: ${file} is not valid JSON: ${(err as Error).message}`);
      }
    };
    const mergesFile = path.join(dir, 'merges.txt');
    const merges = await readFile(mergesFile, 'utf8').catch((err: Error) => {
      throw new Error(`tokenizer: cannot read ${mergesFile}: ${err.message}`);
    });
    return new ClipTokenizer({
      vocab: (await readJson('vocab.json', false)) as Record<string, number>,
      merges,
      config: await readJson('tokenizer_config.json', true),
      specialTokensMap: await readJson('special_tokens_map.json', true),
    });
  }

  constructor(files: TokenizerFiles) {
    this.vocab = new Map(Object.entries(files.vocab));
    // "#version" header line, then one "left right" pair per line, by rank.
    const lines = files.merges.trim().split('\n').slice(1, MAX_MERGES + 1);
    this.ranks = new Map(lines.map((line, rank) => [line.trim().split(/\s+/).join(' '), rank]));

    // special_tokens_map.json wins over tokenizer_config.json, as in transformers.
    const token = (key: string, fallback: string): string => {
      const spec = (files.specialTokensMap[key] ?? files.config[key]) as TokenSpec;
      const content = typeof spec === 'string' ? spec : spec?.content;
      return content ?? fallback;
    };
    const bos = token('bos_token', BOS);
    const eos = token('eos_token', EOS);
    const unk = token('unk_token', EOS);
    this.padToken = token('pad_token', EOS);
    const maxLength = files.config.model_max_length;
    this.maxLength = typeof maxLength === 'number' && maxLength < 1e6 ? maxLength : DEFAULT_MAX_LENGTH;

    // Every special token becomes an "added token" that the text is split on first: with SD 2.x's
    // pad "!", each "!" in a prompt is emitted as id 0 (diffusers issue #4153).
    const added = Object.entries((files.config.added_tokens_decoder ?? {}) as Record<string, TokenSpec>);
    for (const [id, spec] of added) {
      const content = typeof spec === 'string' ? spec : spec?.content;
      if (content !== undefined) this.specialIds.set(content, Number(id));
    }
    for (const content of [bos, eos, unk, this.padToken]) {
      if (this.specialIds.has(content)) continue;
      const id = this.vocab.get(content);
      if (id === undefined) throw new Error(`tokenizer: special token ${JSON.stringify(content)} is not in vocab.json`);
      this.specialIds.set(content, id);
    }
    this.specialTokens = [...this.specialIds.keys()].sort((a, b) => b.length - a.length);
    const idOf = (content: string) => this.specialIds.get(content) as number;
    this.bosId = idOf(bos);
    this.eosId = idOf(eos);
    this.unkId = idOf(unk);
    this.padId = idOf(this.padToken);
  }

  /** `tokenizer(text, padding="max_length", max_length, truncation=True)`. */
  encode(text: string): Encoding {
    const ids = this.tokenIds(text).slice(0, this.maxLength - 2);
    const real = [this.bosId, ...ids, this.eosId];
    const pad = this.maxLength - real.length;
    return {
      inputIds: [...real, ...new Array<number>(pad).fill(this.padId)],
      attentionMask: [...new Array<number>(real.length).fill(1), ...new Array<number>(pad).fill(0)],
    };
  }

  /** `[bos] + ids + [eos]` without truncation or padding (to detect over-long prompts). */
  encodeUntruncated(text: string): number[] {
    return [this.bosId, ...this.tokenIds(text), this.eosId];
  }

  /** Token ids of the text, without bos/eos. */
  tokenIds(text: string): number[] {
    return this.bpeTokens(text).map((t) => this.specialIds.get(t) ?? this.vocab.get(t) ?? this.unkId);
  }

  /** `tokenizer.tokenize(text)`: BPE pieces (end-of-word pieces end in `</w>`) and special tokens. */
  bpeTokens(text: string): string[] {
    const out: string[] = [];
    for (const chunk of this.splitOnSpecialTokens(text)) {
      if (this.specialIds.has(chunk)) {
        out.push(chunk);
        continue;
      }
      for (const [piece] of normalize(chunk).matchAll(PIECE_RE)) {
        const bytes = UTF8.encode(piece);
        out.push(...this.bpe(Array.from(bytes, (b) => BYTE_CHARS[b]).join('')));
      }
    }
    return out;
  }

  /** Splits raw text around exact occurrences of special tokens (leftmost, longest first). */
  private splitOnSpecialTokens(text: string): string[] {
    const chunks: string[] = [];
    let start = 0;
    for (let i = 0; i < text.length; ) {
      const special = this.specialTokens.find((s) => text.startsWith(s, i));
      if (!special) {
        i++;
        continue;
      }
      if (i > start) chunks.push(text.slice(start, i));
      chunks.push(special);
      i += special.length;
      start = i;
    }
    if (start < text.length) chunks.push(text.slice(start));
    return chunks;
  }

  /** Merges one pre-token (already byte-mapped) by merge rank, lowest rank first. */
  private bpe(token: string): string[] {
    const cached = this.bpeCache.get(token);
    if (cached) return cached;
    const chars = Array.from(token);
    let word = [...chars.slice(0, -1), `${chars[chars.length - 1]}</w>`];
    while (word.length > 1) {
      let best = -1;
      let bestRank = Infinity;
      for (let i = 0; i < word.length - 1; i++) {
        const rank = this.ranks.get(`${word[i]} ${word[i + 1]}`);
        if (rank !== undefined && rank < bestRank) {
          bestRank = rank;
          best = i;
        }
      }
      if (best < 0) break;
      // Merge every non-overlapping occurrence of that pair, left to right.
      const [first, second] = [word[best], word[best + 1]];
      const merged: string[] = [];
      for (let i = 0; i < word.length; i++) {
        if (word[i] === first && word[i + 1] === second && i < word.length - 1) {
          merged.push(first + second);
          i++;
        } else {
          merged.push(word[i]);
        }
      }
      word = merged;
    }
    this.bpeCache.set(token, word);
    return word;
  }
}
