// HTTP errors of the daemon. Every refusal is `{error: {code, message, field?}}` (shared
// ErrorBody) with a fitting status; nothing a client sends can make the daemon answer with
// an HTML page or a stack trace.
import type { ErrorRequestHandler, Response } from 'express';
import type { ErrorBody } from '../../shared/errors.ts';
import type { z } from 'zod';

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly field?: string,
  ) {
    super(message);
  }
}

export function errorBody(code: string, message: string, field?: string): ErrorBody {
  return { error: field === undefined ? { code, message } : { code, message, field } };
}

export function sendError(res: Response, err: ApiError): void {
  if (err.status === 401) res.setHeader('WWW-Authenticate', 'Bearer realm="tokenflow"');
  res.status(err.status).json(errorBody(err.code, err.message, err.field));
}

/** A 400 naming the first failing field of a zod validation. */
export function validationError(error: z.ZodError, where: string): ApiError {
  const issue = error.issues[0];
  if (!issue) return new ApiError(400, 'bad_request', `invalid ${where}`);
  const base = issue.path.map(String).join('.');
  if (issue.code === 'unrecognized_keys') {
    const key = issue.keys[0] ?? '';
    const field = base ? `${base}.${key}` : key;
    return new ApiError(400, 'bad_request', `${where}: unknown field "${field}"`, field);
  }
  const field = base || undefined;
  const label = field ? `${where} field "${field}"` : where;
  return new ApiError(400, 'bad_request', `${label}: ${issue.message}`, field);
}

/** Errors thrown by body-parser, identified by their `type`. */
interface BodyParserError {
  type?: string;
  status?: number;
  expose?: boolean;
  limit?: number;
}

/** Last middleware: turns anything thrown into a JSON error. */
export function errorHandler(log: (line: string) => void): ErrorRequestHandler {
  return (err: unknown, _req, res, next) => {
    if (res.headersSent) {
      next(err);
      return;
    }
    if (err instanceof ApiError) {
      sendError(res, err);
      return;
    }
    const bp = err as BodyParserError;
    switch (bp?.type) {
      case 'entity.too.large':
        sendError(res, new ApiError(413, 'payload_too_large', `request body is larger than the ${bp.limit} byte limit`));
        return;
      case 'entity.parse.failed':
        sendError(res, new ApiError(400, 'bad_request', 'request body is not valid JSON'));
        return;
      case 'encoding.unsupported':
      case 'charset.unsupported':
        sendError(res, new ApiError(415, 'unsupported_media_type', 'request body must be UTF-8 JSON'));
        return;
      case 'request.aborted':
      case 'stream.encoding.set':
      case 'request.size.invalid':
        sendError(res, new ApiError(400, 'bad_request', 'request body could not be read'));
        return;
    }
    // Other client errors raised by express itself, e.g. an undecodable %-escape in the path
    // (a URIError with status 400).
    const clientError = typeof bp?.status === 'number' && bp.status >= 400 && bp.status < 500;
    if (clientError && (bp.expose === true || err instanceof URIError)) {
      sendError(res, new ApiError(bp.status!, 'bad_request', err instanceof Error ? err.message : 'bad request'));
      return;
    }
    log(`internal error: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
    sendError(res, new ApiError(500, 'internal', 'internal error; see the daemon log'));
  };
}
