// The packaged companion's `tokenflow` command: a script that runs the bundled CLI with the
// Node runtime shipped beside it, whatever Node (if any) is on PATH. The POSIX script uses
// shell built-ins only, so it works with an empty PATH too.

/** bin/tokenflow for Linux and macOS. */
export function posixLauncher(): string {
  return `#!/bin/sh
# TokenFlow companion: runs lib/tokenflow.mjs with the Node runtime in runtime/.
self=$0
# Follow symbolic links to this script (e.g. one in ~/.local/bin), where readlink exists.
while [ -L "$self" ] && command -v readlink >/dev/null 2>&1; do
  link=$(readlink "$self")
  case $link in
    /*) self=$link ;;
    *) self=\${self%/*}/$link ;;
  esac
done
case $self in
  */*) bin=\${self%/*} ;;
  *) bin=. ;;
esac
root=$(cd -P "$bin/.." && pwd -P) || exit 1
exec "$root/runtime/node" "$root/lib/tokenflow.mjs" "$@"
`;
}

/** bin/tokenflow.cmd for Windows (CRLF line ends, as cmd.exe expects). */
export function windowsLauncher(): string {
  return [
    '@echo off',
    'rem TokenFlow companion: runs lib\\tokenflow.mjs with the Node runtime in runtime\\.',
    '"%~dp0..\\runtime\\node.exe" "%~dp0..\\lib\\tokenflow.mjs" %*',
    'exit /b %ERRORLEVEL%',
    '',
  ].join('\r\n');
}
