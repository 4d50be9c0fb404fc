// What an ffmpeg build may be shipped under, read from the configure line that every ffmpeg
// binary embeds (the same text `ffmpeg -buildconf` prints), so a binary for another platform
// can be checked without running it. --enable-nonfree makes a build unredistributable.
import fs from 'node:fs';

export interface FfmpegBuildLicense {
  /** The embedded configure options, e.g. "--enable-gpl --enable-version3 ...". */
  configuration: string;
  license: 'nonfree' | 'GPL-3.0-or-later' | 'GPL-2.0-or-later' | 'LGPL-3.0-or-later' | 'LGPL-2.1-or-later';
}

/** The longest printable run holding configure options (the binary's FFMPEG_CONFIGURATION). */
export function embeddedConfiguration(binary: Buffer): string | undefined {
  let best: string | undefined;
  const printable = (i: number) => binary[i]! >= 0x20 && binary[i]! <= 0x7e;
  for (let at = binary.indexOf('--enable-'); at >= 0; ) {
    let start = at;
    let end = at;
    while (start > 0 && printable(start - 1)) start--;
    while (end < binary.length && printable(end)) end++;
    // ffmpeg prints it as "%sconfiguration: <options>"; keep the options.
    const text = binary.toString('latin1', start, end).replace(/^.*configuration:\s*/, '').trim();
    if (!best || text.length > best.length) best = text;
    at = binary.indexOf('--enable-', end);
  }
  return best;
}

/** The licence the configure options put the build under (ffmpeg's LICENSE.md rules). */
export function licenseOfConfiguration(configuration: string): FfmpegBuildLicense['license'] {
  const has = (flag: string) => new RegExp(`(^|\\s)${flag}(\\s|$)`).test(configuration);
  if (has('--enable-nonfree')) return 'nonfree';
  const v3 = has('--enable-version3');
  if (has('--enable-gpl')) return v3 ? 'GPL-3.0-or-later' : 'GPL-2.0-or-later';
  return v3 ? 'LGPL-3.0-or-later' : 'LGPL-2.1-or-later';
}

/** The build's licence; throws when the build may not be redistributed or cannot be read. */
export function checkRedistributable(file: string, packageName: string): FfmpegBuildLicense {
  const configuration = embeddedConfiguration(fs.readFileSync(file));
  if (!configuration) throw new Error(`${packageName}: no ffmpeg configure line found in ${file}, so its licence is unknown; not shipping it`);
  const license = licenseOfConfiguration(configuration);
  if (license === 'nonfree') {
    throw new Error(`${packageName} is built with --enable-nonfree: it may not be redistributed`);
  }
  return { configuration, license };
}
