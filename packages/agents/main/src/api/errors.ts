import type { NextFunction, Request, Response } from 'express';
import { TradebusError, formatZodIssues, scrubSecrets, type ConfigIssue } from '@tradebus/core';
import type { Logger } from '@tradebus/core';
import type { z } from 'zod';

/** An error meant for the API client: a status, a stable code, a message that says what to do. */
export class HttpError extends TradebusError {
  constructor(
    readonly status: number,
    code: string,
    message: string,
    readonly issues?: ConfigIssue[],
  ) {
    super(code, message);
  }
}

export function parseOr400<S extends z.ZodType>(schema: S, value: unknown, where: 'body' | 'query' | 'params'): z.output<S> {
  const result = schema.safeParse(value, { reportInput: true });
  if (result.success) return result.data;
  const issues = formatZodIssues(result.error.issues).map((i) => ({ ...i, path: i.path ? `${where}.${i.path}` : where }));
  throw new HttpError(400, 'INVALID_REQUEST', `Invalid request ${where}: ${issues.map((i) => `${i.path}: ${i.message}`).join('; ')}`, issues);
}

/** Turns any error into a JSON answer without a stack trace; unexpected ones are logged in full. */
export function errorHandler(logger: Logger) {
  return (err: unknown, req: Request, res: Response, _next: NextFunction): void => {
    const e = err as { status?: number; type?: string; message?: string; limit?: number };
    if (err instanceof HttpError) {
      res.status(err.status).json({ error: { code: err.code, message: err.message, ...(err.issues ? { issues: err.issues } : {}) } });
      return;
    }
    if (e.type === 'entity.too.large') {
      res.status(413).json({ error: { code: 'BODY_TOO_LARGE', message: `The request body is larger than the limit (${e.limit} bytes). Send less data.` } });
      return;
    }
    if (e.type === 'entity.parse.failed') {
      res.status(400).json({ error: { code: 'INVALID_JSON', message: 'The request body is not valid JSON.' } });
      return;
    }
    if (err instanceof TradebusError) {
      res.status(409).json({ error: { code: err.code, message: err.message } });
      return;
    }
    if (typeof e.status === 'number' && e.status >= 400 && e.status < 500) {
      res.status(e.status).json({ error: { code: 'BAD_REQUEST', message: scrubSecrets(e.message ?? 'Bad request') } });
      return;
    }
    logger.error({ err, method: req.method, path: req.path }, 'request failed');
    res.status(500).json({ error: { code: 'INTERNAL', message: 'Internal error; the details are in the server log.' } });
  };
}
