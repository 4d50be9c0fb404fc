// The protocol shared by the panel and the daemon. Import from here.
export * from './api.ts';
export * from './errors.ts';
export * from './jobs.ts';
export * from './parameters.ts';
export * from './events.ts';
export * from './health.ts';
export * from './presets.ts';
export * from './pairing.ts';
export * from './model_pulls.ts';
export * from './ticks.ts';
