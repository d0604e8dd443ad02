// Secrets never reach a log line: every service logs through createLogger, whose redaction removes
// credential-named fields (top level, one level down, and the request's Authorization / Cookie
// headers) from each line and from child-logger bindings, without changing the caller's objects.
import { describe, expect, it } from 'vitest';
import { createLogger } from '../../services/shared/logger.js';

function capture(): { lines: Record<string, unknown>[]; logger: ReturnType<typeof createLogger> } {
  const lines: Record<string, unknown>[] = [];
  const logger = createLogger({ service: 'test', level: 'debug', destination: { write: (line: string) => void lines.push(JSON.parse(line) as Record<string, unknown>) } });
  return { lines, logger };
}

const SECRET = 's3cr3t-value';

describe('log redaction', () => {
  it('removes secret-named fields at the top level and one level down, and keeps everything else', () => {
    const { lines, logger } = capture();
    const nested = { user: 'alice', password: SECRET, token: SECRET, secret: SECRET, authorization: SECRET, keep: 1 };
    const fields = { password: SECRET, token: SECRET, secret: SECRET, authorization: SECRET, nested, status: 202, event_id: 'e-1' };
    logger.info(fields, 'line');
    const [line] = lines;
    expect(JSON.stringify(line)).not.toContain(SECRET);
    expect(line).toMatchObject({ service: 'test', level: 'info', msg: 'line', status: 202, event_id: 'e-1', nested: { user: 'alice', keep: 1 } });
    // The caller's objects are untouched.
    expect(fields.password).toBe(SECRET);
    expect(nested.token).toBe(SECRET);
  });

  it("removes the request's Authorization and Cookie headers", () => {
    const { lines, logger } = capture();
    const req = { method: 'POST', headers: { authorization: `Bearer ${SECRET}`, cookie: `sid=${SECRET}`, 'content-type': 'application/json' } };
    logger.warn({ req, headers: { authorization: SECRET, accept: '*/*' } }, 'request');
    expect(JSON.stringify(lines[0])).not.toContain(SECRET);
    expect(lines[0]).toMatchObject({ req: { method: 'POST', headers: { 'content-type': 'application/json' } }, headers: { accept: '*/*' } });
    expect(req.headers.authorization).toContain(SECRET);
  });

  it('redacts the bindings of child loggers', () => {
    const { lines, logger } = capture();
    logger.child({ request_id: 'r-1', token: SECRET, client: { secret: SECRET, id: 'c' } }).info({ ok: true }, 'child line');
    expect(JSON.stringify(lines[0])).not.toContain(SECRET);
    expect(lines[0]).toMatchObject({ request_id: 'r-1', client: { id: 'c' }, ok: true });
  });

  it('keeps an error an error (type, message, stack) while removing its secret fields', () => {
    const { lines, logger } = capture();
    const err = Object.assign(new TypeError('boom'), { token: SECRET, code: 'E_X' });
    logger.error({ err }, 'failed');
    expect(JSON.stringify(lines[0])).not.toContain(SECRET);
    expect(lines[0]!.err).toMatchObject({ type: 'TypeError', message: 'boom', code: 'E_X' });
    expect(String((lines[0]!.err as { stack: string }).stack)).toContain('boom');
    expect(err.token).toBe(SECRET);
  });

  it('logs lines without secrets unchanged', () => {
    const { lines, logger } = capture();
    logger.info({ method: 'POST', url: '/process-event', status: 202, ms: 1.5, event_id: 'e', nested: { a: [1, 2] } }, 'request completed');
    expect(lines[0]).toMatchObject({ method: 'POST', url: '/process-event', status: 202, ms: 1.5, event_id: 'e', nested: { a: [1, 2] }, msg: 'request completed' });
  });
});
