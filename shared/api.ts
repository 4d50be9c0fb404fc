// Version of the daemon's HTTP/WebSocket contract. Every route lives under API_PREFIX; a
// breaking change to any schema in shared/ means a new version, never an in-place edit.
export const API_VERSION = 'v1';
export const API_PREFIX = `/${API_VERSION}`;

/** The daemon's default TCP port on 127.0.0.1; the panel's manifest allows network access to it. */
export const DEFAULT_PORT = 43117;

/** The v1 routes of the daemon's contract. `:id`/`:name` are path parameters. */
export const API_PATHS = {
  health: `${API_PREFIX}/health`,
  jobs: `${API_PREFIX}/jobs`,
  job: `${API_PREFIX}/jobs/:id`,
  jobCancel: `${API_PREFIX}/jobs/:id/cancel`,
  presets: `${API_PREFIX}/presets`,
  preset: `${API_PREFIX}/presets/:name`,
  models: `${API_PREFIX}/models`,
  modelPull: `${API_PREFIX}/models/pull`,
  modelPulls: `${API_PREFIX}/models/pulls`,
  modelPullJob: `${API_PREFIX}/models/pulls/:id`,
  modelPullCancel: `${API_PREFIX}/models/pulls/:id/cancel`,
  events: `${API_PREFIX}/events`,
  pair: `${API_PREFIX}/pair`,
  pairConfirm: `${API_PREFIX}/pair/:id/confirm`,
} as const;
