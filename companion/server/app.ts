// The daemon's REST API, exactly the v1 contract (shared/api.ts). Every request passes,
// in this order: single Host/Origin headers → Host check (DNS rebinding) → Origin check (+ CORS for --allow-origin ones) →
// bearer token (except the public half of /v1/health) → body parsing (64 KiB, JSON only) →
// zod validation of body, query and path → the job service.
import express, { type NextFunction, type Request, type Response } from 'express';
import { z } from 'zod';
import { API_PATHS, API_VERSION } from '../../shared/api.ts';
import { Health, PublicHealth, type FarmWorkerInfo, type ModelInfo } from '../../shared/health.ts';
import { JobDeleteQuery, JobId, JobRequest, PresetName } from '../../shared/jobs.ts';
import { PresetBody } from '../../shared/presets.ts';
import { PairingConfirm, type PairingGranted } from '../../shared/pairing.ts';
import type { LogLevel } from '../../shared/events.ts';
import { JobServiceError, type JobServiceApi } from '../jobs/index.ts';
import { ApiError, errorHandler, sendError, validationError } from './errors.ts';
import type { PairingDesk } from './pairing.ts';
import { ModelJobId, ModelPullRequest } from '../../shared/model_pulls.ts';
import { ModelPullError, type ModelPullService } from '../hub/pull_jobs.ts';
import { bearerToken, checkRequestHeaders, checkToken, judgeOrigin, type HostPolicy, type OriginPolicy } from './security.ts';

/** Largest JSON body accepted (a job request is well under 10 KiB). */
export const BODY_LIMIT_BYTES = 64 * 1024;

export interface AppDeps {
  jobs: JobServiceApi;
  token: string;
  /** Read per request: the port is known only once the server listens. */
  hostPolicy: () => HostPolicy;
  originPolicy: OriginPolicy;
  version: string;
  /** The execution provider in use, or null while none is loaded. */
  device: () => string | null;
  /** Installed models (GET /v1/models, and ids in the health). */
  listModels: () => Promise<ModelInfo[]>;
  log: (level: LogLevel, message: string) => void;
  /** Pairing without a terminal (shared/pairing.ts). */
  pairing: PairingDesk;
  /** The GPU's name, for the health (null when none or unknown). */
  deviceName?: () => string | null;
  /** Free bytes of the render folder, for the health; null when it cannot be measured. */
  outputFreeBytes?: () => Promise<number | null>;
  /** Model downloads (shared/model_pulls.ts); absent in daemons built without them. */
  modelPulls?: ModelPullService;
  /** The studio farm's live workers, for the health; absent without a farm. */
  farmWorkers?: () => Promise<FarmWorkerInfo[]>;
}

/** Routes that take no query parameters validate against this (unknown ones are refused). */
const NoQuery = z.strictObject({});
/** Routes that take no body accept none, or an empty JSON object. */
const NoBody = z.strictObject({}).optional();

export function createApp(deps: AppDeps): express.Express {
  const app = express();
  app.disable('x-powered-by');
  app.disable('etag');
  app.set('query parser', 'simple');

  app.use((req, res, next) => {
    res.setHeader('Cache-Control', 'no-store');
    res.setHeader('X-Content-Type-Options', 'nosniff');
    res.setHeader('Cross-Origin-Resource-Policy', 'same-origin');
    next();
  });

  app.use((req, res, next) => {
    const refused = checkRequestHeaders(req, deps.hostPolicy(), deps.originPolicy);
    if (refused) {
      deps.log('warn', `refused ${req.method} ${req.path}: ${refused.message}`);
      sendError(res, refused);
      return;
    }
    next();
  });

  app.use(corsForAllowedOrigin(deps.originPolicy));

  app.get(API_PATHS.health, async (req, res) => {
    const presented = bearerToken(req.headers.authorization);
    if (req.headers.authorization === undefined) {
      validateQuery(req, NoQuery);
      res.json({ service: 'tokenflow', api_version: API_VERSION, authenticated: false } satisfies PublicHealth);
      return;
    }
    const refused = checkToken(presented, deps.token);
    if (refused) throw refused;
    validateQuery(req, NoQuery);
    res.json(await fullHealth(deps));
  });

  mountPairing(app, deps);

  app.use((req, res, next) => {
    const refused = checkToken(bearerToken(req.headers.authorization), deps.token);
    if (refused) {
      deps.log('warn', `refused ${req.method} ${req.path}: ${refused.message}`);
      sendError(res, refused);
      return;
    }
    next();
  });

  // Bodies are read only from authenticated clients, only as JSON. Requiring the JSON type
  // also means a browser cannot send one without a CORS preflight (no "simple" form posts).
  app.use((req, _res, next) => {
    if (hasBody(req) && !req.is('application/json')) {
      throw new ApiError(415, 'unsupported_media_type', 'request body must be JSON (Content-Type: application/json)');
    }
    next();
  });
  app.use(express.json({ limit: BODY_LIMIT_BYTES, strict: true, type: 'application/json' }));

  app.post(API_PATHS.jobs, async (req, res) => {
    validateQuery(req, NoQuery);
    const parsed = JobRequest.safeParse(req.body);
    if (!parsed.success) throw validationError(parsed.error, 'job request');
    const { job, created } = await callJobs(() => deps.jobs.submit(parsed.data));
    res.setHeader('Location', `${API_PATHS.jobs}/${job.id}`);
    res.status(created ? 202 : 200).json({ job, created });
  });

  app.get(API_PATHS.jobs, (req, res) => {
    validateQuery(req, NoQuery);
    res.json({ jobs: deps.jobs.list() });
  });

  app.get(API_PATHS.job, (req, res) => {
    validateQuery(req, NoQuery);
    const id = jobIdParam(req);
    const job = deps.jobs.get(id);
    if (!job) throw new ApiError(404, 'not_found', `no job with id ${id}`, 'id');
    res.json(job);
  });

  app.post(API_PATHS.jobCancel, async (req, res) => {
    validateQuery(req, NoQuery);
    validateBody(req, NoBody);
    const id = jobIdParam(req);
    res.json(await callJobs(() => deps.jobs.cancel(id)));
  });

  app.delete(API_PATHS.job, async (req, res) => {
    const query = validateQuery(req, JobDeleteQuery);
    validateBody(req, NoBody);
    const id = jobIdParam(req);
    await callJobs(() => deps.jobs.delete(id, { files: query.files === 'true' }));
    res.status(204).end();
  });

  app.get(API_PATHS.presets, (req, res) => {
    validateQuery(req, NoQuery);
    res.json({ presets: deps.jobs.presets.list() });
  });

  app.put(API_PATHS.preset, async (req, res) => {
    validateQuery(req, NoQuery);
    const name = presetNameParam(req);
    const body = PresetBody.safeParse(req.body);
    if (!body.success) throw validationError(body.error, 'preset');
    const existed = deps.jobs.presets.get(name) !== undefined;
    const preset = await callJobs(() => deps.jobs.presets.put(name, body.data));
    res.status(existed ? 200 : 201).json(preset);
  });

  app.delete(API_PATHS.preset, async (req, res) => {
    validateQuery(req, NoQuery);
    validateBody(req, NoBody);
    const name = presetNameParam(req);
    await callJobs(() => deps.jobs.presets.delete(name));
    res.status(204).end();
  });

  app.get(API_PATHS.models, async (req, res) => {
    validateQuery(req, NoQuery);
    res.json({ models: await deps.listModels() });
  });

  mountModelPulls(app, deps);

  app.use((req, res) => {
    sendError(res, new ApiError(404, 'not_found', `no route ${req.method} ${req.path}`));
  });
  app.use(errorHandler((line) => deps.log('error', line)));
  return app;
}

/**
 * The two routes that take no token. Only the panel may pair: a request with any Origin but
 * the panel's own (`uxp:`/`plugin:`) or none is refused here, even one allowed with
 * --allow-origin — a web page the user vouched for may call the API with a token the user
 * gave it, but never obtain one.
 */
function mountPairing(app: express.Express, deps: AppDeps): void {
  const onlyPanel = (req: Request, _res: Response, next: NextFunction) => {
    const verdict = judgeOrigin(req.headers.origin, deps.originPolicy);
    if (!verdict.accepted || verdict.cors) {
      throw new ApiError(403, 'forbidden', `Origin "${clip(req.headers.origin)}" may not pair: only the TokenFlow panel can`);
    }
    if (hasBody(req) && !req.is('application/json')) {
      throw new ApiError(415, 'unsupported_media_type', 'request body must be JSON (Content-Type: application/json)');
    }
    next();
  };
  const json = express.json({ limit: 1024, strict: true, type: 'application/json' });

  app.post(API_PATHS.pair, onlyPanel, json, (req, res) => {
    validateQuery(req, NoQuery);
    validateBody(req, NoBody);
    const started = deps.pairing.start();
    deps.log('info', `pairing requested (${req.headers.origin ?? 'no Origin'}); the code is valid until ${started.expires_at}`);
    res.status(201).json(started);
  });

  app.post(API_PATHS.pairConfirm, onlyPanel, json, (req, res) => {
    validateQuery(req, NoQuery);
    const body = PairingConfirm.safeParse(req.body);
    if (!body.success) throw validationError(body.error, 'pairing confirmation');
    try {
      const token = deps.pairing.confirm(String(req.params.id), body.data.code);
      deps.log('info', 'pairing confirmed: the panel has the token');
      res.json({ token } satisfies PairingGranted);
    } catch (err) {
      if (err instanceof ApiError) deps.log('warn', `pairing refused: ${err.message}`);
      throw err;
    }
  });
}

function mountModelPulls(app: express.Express, deps: AppDeps): void {
  const pulls = () => {
    if (!deps.modelPulls) throw new ApiError(404, 'not_found', 'this daemon does not download models');
    return deps.modelPulls;
  };
  const call = async <T>(fn: () => T | Promise<T>): Promise<T> => {
    try {
      return await fn();
    } catch (err) {
      if (err instanceof ModelPullError) throw new ApiError(err.status, err.code, err.message, err.field);
      throw err;
    }
  };
  const jobParam = (req: Request): string => {
    const parsed = ModelJobId.safeParse(req.params.id);
    if (!parsed.success) throw new ApiError(400, 'bad_request', `model job id "${clip(req.params.id)}" is not a UUID`, 'id');
    return parsed.data;
  };

  app.post(API_PATHS.modelPull, async (req, res) => {
    validateQuery(req, NoQuery);
    const body = ModelPullRequest.safeParse(req.body);
    if (!body.success) throw validationError(body.error, 'model pull request');
    const { job, created } = await call(() => pulls().submit(body.data));
    res.setHeader('Location', `${API_PATHS.modelPulls}/${job.id}`);
    res.status(created ? 202 : 200).json({ job, created });
  });

  app.get(API_PATHS.modelPulls, (req, res) => {
    validateQuery(req, NoQuery);
    res.json({ jobs: pulls().list() });
  });

  app.get(API_PATHS.modelPullJob, (req, res) => {
    validateQuery(req, NoQuery);
    const id = jobParam(req);
    const job = pulls().get(id);
    if (!job) throw new ApiError(404, 'not_found', `no model job with id ${id}`, 'id');
    res.json(job);
  });

  app.post(API_PATHS.modelPullCancel, async (req, res) => {
    validateQuery(req, NoQuery);
    validateBody(req, NoBody);
    const id = jobParam(req);
    res.json(await call(() => pulls().cancel(id)));
  });
}

async function fullHealth(deps: AppDeps): Promise<Health> {
  const models = await deps.listModels();
  const device = deps.device();
  const defaultModel = models.find((m) => m.is_default)?.id ?? null;
  return Health.parse({
    status: device !== null && defaultModel !== null ? 'ok' : 'degraded',
    version: deps.version,
    api_version: API_VERSION,
    device,
    models: models.map((m) => m.id),
    default_model: defaultModel,
    queue: deps.jobs.queueCounts(),
    device_name: deps.deviceName?.() ?? null,
    output_free_bytes: deps.outputFreeBytes ? await deps.outputFreeBytes() : null,
    ...(deps.farmWorkers ? { workers: await deps.farmWorkers() } : {}),
  });
}

/**
 * Browsers may only read answers meant for them: an Origin the user allowed with
 * --allow-origin gets its own value echoed — never `*` — and preflights are answered for it.
 */
function corsForAllowedOrigin(policy: OriginPolicy) {
  return (req: Request, res: Response, next: NextFunction) => {
    const origin = req.headers.origin;
    const verdict = judgeOrigin(origin, policy);
    if (origin === undefined || !verdict.accepted || !verdict.cors) {
      next();
      return;
    }
    res.setHeader('Access-Control-Allow-Origin', origin);
    res.setHeader('Vary', 'Origin');
    if (req.method === 'OPTIONS' && req.headers['access-control-request-method'] !== undefined) {
      res.setHeader('Access-Control-Allow-Methods', 'GET, POST, PUT, DELETE');
      res.setHeader('Access-Control-Allow-Headers', 'Authorization, Content-Type');
      res.setHeader('Access-Control-Max-Age', '600');
      res.status(204).end();
      return;
    }
    next();
  };
}

/** Maps the job service's own errors onto HTTP; anything else is a 500. */
async function callJobs<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    if (err instanceof JobServiceError) throw new ApiError(err.status, err.code, err.message, err.field);
    if (err instanceof z.ZodError) throw validationError(err, 'request');
    throw err;
  }
}

function jobIdParam(req: Request): string {
  const parsed = JobId.safeParse(req.params.id);
  if (!parsed.success) throw new ApiError(400, 'bad_request', `job id "${clip(req.params.id)}" is not a UUID`, 'id');
  return parsed.data;
}

function presetNameParam(req: Request): string {
  const parsed = PresetName.safeParse(req.params.name);
  if (!parsed.success) {
    throw new ApiError(400, 'bad_request', `preset name "${clip(req.params.name)}": ${parsed.error.issues[0]?.message}`, 'name');
  }
  return parsed.data;
}

function validateQuery<S extends z.ZodType>(req: Request, schema: S): z.infer<S> {
  const parsed = schema.safeParse({ ...req.query });
  if (!parsed.success) throw validationError(parsed.error, 'query');
  return parsed.data;
}

function validateBody(req: Request, schema: z.ZodType): void {
  const parsed = schema.safeParse(req.body);
  if (!parsed.success) throw validationError(parsed.error, 'body');
}

function hasBody(req: Request): boolean {
  const length = req.headers['content-length'];
  return req.headers['transfer-encoding'] !== undefined || (length !== undefined && length !== '0');
}

/** A client value made safe to echo in a message. */
function clip(value: unknown): string {
  const text = String(value).replace(/[^\x20-\x7e]/g, '?');
  return text.length > 80 ? `${text.slice(0, 80)}…` : text;
}
