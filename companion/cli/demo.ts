// `tokenflow demo`: the quick start. Makes a short test clip with ffmpeg, edits it end to end
// with the bundled tiny model (the same probe -> extract -> TokenFlow -> encode path as
// `tokenflow edit`), and writes the video and a contact sheet (source row, edited row).
// The tiny model has random weights: it proves the installation works, not the method.
import fs from 'node:fs';
import path from 'node:path';
import { DEFAULT_NEGATIVE_PROMPT } from '../../shared/jobs.ts';
import { JobParameters } from '../../shared/parameters.ts';
import { encodePngRgb } from '../util/png.ts';
import type { RawFrames } from '../media/types.ts';
import type { Command } from './command.ts';
import { parseCommandLine } from './options.ts';
import { printTimings, runHeadlessEdit } from './edit.ts';

const DEFAULT_FRAMES = 16;
const DEFAULT_STEPS = 10;
const CLIP_SIZE = { width: 128, height: 96 };
const CLIP_RATE = '12';
/** Processing short side: small enough for the tiny model to run in seconds on 2 cores. */
const SHORT_SIDE = 64;
const PROMPT = 'a watercolor painting of a test pattern';
/** Thumbnails on the contact sheet (evenly spaced frames). */
const SHEET_COLUMNS = 8;
const SHEET_GAP = 4;

const help = `Usage: tokenflow demo [--out DIR] [--frames N] [--steps N]

Checks the whole installation in well under a minute: makes a ${CLIP_SIZE.width}x${CLIP_SIZE.height} test clip
with ffmpeg, edits it with the bundled tiny model (tiny-sd15) exactly as a real edit runs
(inversion, keyframe editing, token propagation, decode, encode), and writes:
  DIR/source.mp4          the generated clip
  DIR/edited.mp4          the edit (same size, frame rate and frame count)
  DIR/contact_sheet.png   source frames (top row) above the edited frames (bottom row)

The tiny model has random weights, so the edit looks like coloured noise. Real edits need a
real model: \`tokenflow models pull stabilityai/stable-diffusion-2-1-base\`, then
\`tokenflow edit clip.mov --model stabilityai/stable-diffusion-2-1-base --prompt "..." -o out.mov\`.

Options:
  --out DIR     output folder (default ./tokenflow-demo; created if missing)
  --frames N    clip length in frames (default ${DEFAULT_FRAMES})
  --steps N     edit steps, also used as the inversion steps (default ${DEFAULT_STEPS})
  -h, --help    this help`;

export const command: Command = {
  help,
  async run(args) {
    const { values } = parseCommandLine(args, {
      out: { type: 'string', default: 'tokenflow-demo' },
      frames: { type: 'int', min: 1, max: 2000 },
      steps: { type: 'int', min: 1, max: 999 },
    });
    const { frames = DEFAULT_FRAMES, steps = DEFAULT_STEPS } = values;
    const out = path.resolve(values.out);
    fs.mkdirSync(out, { recursive: true });

    const media = await import('../media/index.ts');
    const { runFfmpeg, fileUrl } = await import('../media/ffmpeg.ts');
    const caps = await media.checkMedia();
    const h264 = caps.codecs.includes('h264');
    const sourcePath = path.join(out, h264 ? 'source.mp4' : 'source.mov');
    const editedPath = path.join(out, h264 ? 'edited.mp4' : 'edited.mov');
    console.error(`making a ${frames}-frame ${CLIP_SIZE.width}x${CLIP_SIZE.height} test clip at ${CLIP_RATE} fps...`);
    await runFfmpeg([
      '-f', 'lavfi', '-i', `testsrc2=size=${CLIP_SIZE.width}x${CLIP_SIZE.height}:rate=${CLIP_RATE}`,
      '-frames:v', String(frames),
      ...(h264 ? ['-c:v', 'libx264', '-preset', 'ultrafast', '-qp', '8', '-pix_fmt', 'yuv420p'] : ['-c:v', 'prores_ks', '-profile:v', '3', '-pix_fmt', 'yuv422p10le']),
      '-y', fileUrl(sourcePath),
    ], { what: 'making the demo clip', file: sourcePath });

    const parameters = JobParameters.parse({ steps, inversion_steps: steps, batch_size: 4, short_side: SHORT_SIDE });
    const result = await runHeadlessEdit({
      input: sourcePath,
      output: editedPath,
      model: 'tiny-sd15',
      prompt: PROMPT,
      negative_prompt: DEFAULT_NEGATIVE_PROMPT,
      source_prompt: 'a test pattern',
      parameters,
      codec: h264 ? 'h264' : 'prores',
      audio: false,
    });
    printTimings(result);

    const sheetPath = path.join(out, 'contact_sheet.png');
    await writeContactSheet(sourcePath, editedPath, sheetPath, out);
    console.log([
      '',
      `source clip:   ${sourcePath}`,
      `edited clip:   ${editedPath} (${result.result.frame_count} frames, ${result.result.width}x${result.result.height})`,
      `contact sheet: ${sheetPath} (top: source frames, bottom: edited frames)`,
      '',
      'The bundled tiny model has random weights, so the edited frames look like noise: this',
      'demo shows that every stage runs, not what TokenFlow can do. For real edits, pull a real',
      'model and edit your own clip:',
      '  tokenflow models pull stabilityai/stable-diffusion-2-1-base',
      '  tokenflow edit clip.mov --model stabilityai/stable-diffusion-2-1-base --prompt "..." -o out.mov',
    ].join('\n'));
    return 0;
  },
};

/** Two rows of evenly spaced thumbnails: the source's frames above the edit's. */
async function writeContactSheet(sourcePath: string, editedPath: string, sheetPath: string, scratchParent: string): Promise<void> {
  const media = await import('../media/index.ts');
  const scratch = fs.mkdtempSync(path.join(scratchParent, '.sheet-'));
  try {
    const rows: RawFrames[] = [];
    for (const file of [sourcePath, editedPath]) {
      const info = await media.probe(file);
      rows.push(await media.extractFrames({ input: file, startTicks: 0n, endTicks: BigInt(info.video.durationTicks), shortSide: SHORT_SIDE, workDir: scratch, info }));
    }
    const { width, height, count } = rows[0]!;
    const columns = Math.min(SHEET_COLUMNS, count);
    const picks = Array.from({ length: columns }, (_, i) => Math.round((i * (count - 1)) / Math.max(1, columns - 1)));
    const sheetW = columns * width + (columns + 1) * SHEET_GAP;
    const sheetH = 2 * height + 3 * SHEET_GAP;
    const sheet = new Uint8Array(sheetW * sheetH * 3).fill(48);
    for (const [r, frames] of rows.entries()) {
      for (const [c, index] of picks.entries()) {
        const rgb = await media.readFrame(frames, Math.min(index, frames.count - 1));
        const x0 = SHEET_GAP + c * (width + SHEET_GAP);
        const y0 = SHEET_GAP + r * (height + SHEET_GAP);
        for (let y = 0; y < height; y++) sheet.set(rgb.subarray(y * width * 3, (y + 1) * width * 3), ((y0 + y) * sheetW + x0) * 3);
      }
    }
    const tmp = `${sheetPath}.${process.pid}.tmp`;
    fs.writeFileSync(tmp, encodePngRgb(sheet, sheetW, sheetH));
    fs.renameSync(tmp, sheetPath);
  } finally {
    fs.rmSync(scratch, { recursive: true, force: true });
  }
}
