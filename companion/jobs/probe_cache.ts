// Probes of the sources submitted, kept per file identity (path, device, inode, size, mtime):
// a burst of submissions of one clip runs ffprobe once instead of once each (200 ffprobe
// processes at once would take the machine's cores from everything else). A changed file is
// probed again. Errors are not kept: the next submission probes again.
import { stat } from 'node:fs/promises';
import type { MediaInfo } from '../media/types.ts';

/** Sources remembered; the oldest is forgotten first. */
const MAX_ENTRIES = 64;

export function cachedProbe(probe: (file: string) => Promise<MediaInfo>): (file: string) => Promise<MediaInfo> {
  const entries = new Map<string, Promise<MediaInfo>>();
  return async (file) => {
    let identity: string;
    try {
      const st = await stat(file);
      identity = `${file}\0${st.dev}:${st.ino}:${st.size}:${st.mtimeMs}`;
    } catch {
      return probe(file); // missing or unreadable: the probe says so in its own words
    }
    const cached = entries.get(identity);
    if (cached) return cached;
    const info = probe(file);
    entries.set(identity, info);
    if (entries.size > MAX_ENTRIES) entries.delete(entries.keys().next().value!);
    info.catch(() => entries.delete(identity));
    return info;
  };
}
