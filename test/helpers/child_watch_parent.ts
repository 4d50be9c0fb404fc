// A process that installs the parent-death watch, starts a child as the daemon starts ffmpeg
// (childSpawnOptions + trackChild) and asks for a folder to be removed if it dies; then waits to
// be killed. Prints {"child": pid, "watcher": pid} once the watcher runs.
// Usage: node --import tsx child_watch_parent.ts <folder>
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import { childSpawnOptions, trackChild, watchChildren } from '../../companion/util/child_registry.ts';

const watch = watchChildren()!;
const child = spawn('sleep', ['600'], { stdio: 'ignore', ...childSpawnOptions() });
trackChild(child, 'sleep');
fs.mkdirSync(process.argv[2]!, { recursive: true });
fs.writeFileSync(`${process.argv[2]}/frames.rgb`, 'x');
watch.removeOnDeath(process.argv[2]!);
process.stdout.write(`${JSON.stringify({ child: child.pid, watcher: watch.pid })}\n`);
setInterval(() => {}, 1000);
