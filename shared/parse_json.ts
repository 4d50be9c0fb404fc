// JSON from outside this process (a file, Redis, a socket) checked against its schema in one
// step: text that is no JSON reads like JSON of the wrong shape, as nothing.
import type { z } from 'zod';

/** `text` as `schema` describes it; undefined when it is null, no JSON, or not of that shape. */
export function parseJsonAs<T extends z.ZodType>(schema: T, text: string | null): z.output<T> | undefined {
  if (text === null) return undefined;
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    return undefined;
  }
  const parsed = schema.safeParse(json);
  return parsed.success ? parsed.data : undefined;
}
