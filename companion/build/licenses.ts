// The licences of everything the packaged companion redistributes, written to licenses/:
// one file per component (its own licence files, or, where its npm package ships none, the
// SPDX text of the licence it declares), and an index (licenses/README.txt).
import fs from 'node:fs';
import path from 'node:path';

export interface Component {
  name: string;
  version: string;
  /** SPDX id (or the package.json `license` value). */
  license: string;
  /** Folder holding the component's own LICENSE/COPYING/NOTICE files, if any. */
  dir?: string;
  /** Extra text written before the licence (provenance, build configuration). */
  notice?: string;
}

const LICENSE_FILE = /^(licen[cs]e|copying|notice|third[-_]?party[-_]?notices)(\.|-|$)/i;

/** Whether a top-level file of a package is one of its licence files. */
export function isLicenseFile(file: string): boolean {
  return !file.includes('/') && LICENSE_FILE.test(file);
}

/** The component's own licence files (top level of its folder), in name order. */
export function licenseFiles(dir: string): string[] {
  if (!fs.existsSync(dir)) return [];
  return fs.readdirSync(dir).filter((n) => LICENSE_FILE.test(n) && fs.statSync(path.join(dir, n)).isFile()).sort().map((n) => path.join(dir, n));
}

/** The SPDX licence text from an unpacked spdx-license-list package, or undefined. */
export function spdxText(spdxDir: string, id: string): string | undefined {
  const file = path.join(spdxDir, 'licenses', `${id}.json`);
  if (!fs.existsSync(file)) return undefined;
  return (JSON.parse(fs.readFileSync(file, 'utf8')) as { licenseText: string }).licenseText;
}

export function componentLicenseText(component: Component, spdxDir: string): string {
  const header = `${component.name} ${component.version}\nLicence: ${component.license}\n`;
  const own = component.dir ? licenseFiles(component.dir) : [];
  const body = own.length
    ? own.map((f) => fs.readFileSync(f, 'utf8')).join('\n\n')
    : spdxText(spdxDir, component.license);
  if (body === undefined) {
    throw new Error(`${component.name} ${component.version}: no licence file in its package and no SPDX text for "${component.license}"`);
  }
  const source = own.length ? '' : `(The npm package ships no licence file; the text below is the SPDX text of ${component.license}.)\n`;
  return [header, component.notice ? `${component.notice}\n` : '', source, '\n', body.trimEnd(), '\n'].join('');
}

export function writeLicenses(dir: string, components: readonly Component[], spdxDir: string): void {
  fs.mkdirSync(dir, { recursive: true });
  const sorted = [...components].sort((a, b) => a.name.localeCompare(b.name));
  for (const c of sorted) fs.writeFileSync(path.join(dir, `${fileName(c.name)}.txt`), componentLicenseText(c, spdxDir));
  const width = Math.max(...sorted.map((c) => `${c.name} ${c.version}`.length));
  const index = [
    'Components redistributed in this package, with their licences (one file each in this folder).',
    '',
    ...sorted.map((c) => `${`${c.name} ${c.version}`.padEnd(width)}  ${c.license}  ${fileName(c.name)}.txt`),
    '',
  ].join('\n');
  fs.writeFileSync(path.join(dir, 'README.txt'), index);
}

function fileName(name: string): string {
  return name.replace(/^@/, '').replace(/\//g, '+');
}
