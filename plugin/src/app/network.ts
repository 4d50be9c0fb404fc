// The daemon ports this panel may reach. UXP lets a plugin open only the origins its
// manifest's network permission lists, so a port outside that list fails with a bare network
// error; the panel offers only the listed ports instead. Read from the manifest the plugin
// runs with (uxp.pluginManager), else from the defaults manifest.json is built with.
import { DEFAULT_DAEMON_PORT } from './settings.ts';

export interface ManifestPermissions {
  requiredPermissions?: { network?: { domains?: readonly string[] | string } };
}

/** Ports with both http://127.0.0.1:P and ws://127.0.0.1:P allowed, ascending; [] when none. */
export function allowedDaemonPorts(manifest: ManifestPermissions | undefined): number[] {
  const domains = manifest?.requiredPermissions?.network?.domains;
  if (!Array.isArray(domains)) return [DEFAULT_DAEMON_PORT];
  const portsOf = (scheme: string) =>
    new Set(domains.map((d) => new RegExp(`^${scheme}://127\\.0\\.0\\.1:(\\d{1,5})$`).exec(d)?.[1]).filter((p): p is string => p !== undefined).map(Number));
  const ws = portsOf('ws');
  return [...portsOf('http')].filter((p) => ws.has(p)).sort((a, b) => a - b);
}
