// The plugin's identity and entry points. manifest.json must list exactly these ids (its
// validation test checks it against what main.ts registers with entrypoints.setup).
export const PLUGIN_ID = 'com.tokenflow.premiere';
export const PANEL_ID = 'tokenflowPanel';
export const COMMAND_ID = 'editSelectedClip';
