// SAP Notification Service Adapter contract: PUT /api/v1/notifications?reportType=full|delta with a JWT.
// Here a report becomes Kafka records: the body split into consecutive parts of at most
// MAX_RECORD_BYTES, all keyed by tenant, each carrying report_id/part/parts so consumers apply a
// report only once they hold every part. Error bodies are exactly the adapter's documented ones.
import { randomUUID } from 'node:crypto';
import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import { errorMessage } from '../../shared/errors.js';
import { MAX_RECORD_BYTES } from '../../shared/topics.js';
import { bearerToken } from '../../shared/credentials.js';
import { parseJsonBytes } from '../domain/json.js';
import { PARSE_FAILED, checkSapReport, parseReportType, splitIntoParts, type TenantClaim } from '../../shared/contracts/sap-report.js';
import { BodyError, bodyParser } from '../http/body.js';
import { closeAfterResponse, isClientError, deliveryFacts, isUnderPressure, rawBody, writeRecords, type SourceDeps } from './common.js';
import { createSapVerifier, type SapVerifier } from './sap-auth.js';

declare module 'fastify' {
  interface FastifyRequest {
    sapTenant: TenantClaim | null;
  }
}

/** Room left in each record for the envelope around the part (ids, tenant, headers). */
const ENVELOPE_ROOM_BYTES = 8 * 1024;
export const SAP_PART_BYTES = MAX_RECORD_BYTES - ENVELOPE_ROOM_BYTES;

const errorBody = (code: number, message: string) => ({ error: { code, message } });

export function sapSource(deps: SourceDeps, verifier: SapVerifier = createSapVerifier(deps.cfg)): FastifyPluginAsync {
  const { cfg, ingressMetrics } = deps;

  const refuse = (reply: FastifyReply, status: number, reason: string, message: string): FastifyReply => {
    ingressMetrics.recordsRejected.inc({ source: 'sap', reason });
    return reply.code(status).type('application/json').send(errorBody(status, message));
  };

  return async (app) => {
    app.decorateRequest('sapTenant', null);
    app.removeAllContentTypeParsers();
    app.addContentTypeParser('*', bodyParser({ limitBytes: cfg.SAP_MAX_BODY_BYTES, timeoutMs: cfg.BODY_TIMEOUT_MS }));

    // Like the reference adapter, authentication comes first: 401 precedes every 400/413.
    app.addHook('onRequest', async (req, reply) => {
      const token = bearerToken(req.headers.authorization);
      const result = token === undefined ? ({ ok: false, reason: 'invalid', detail: 'no bearer token' } as const) : await verifier(token);
      if (result.ok) {
        req.sapTenant = result.tenant;
        return;
      }
      req.log.info({ reason: result.reason, detail: result.detail }, 'SAP request not authenticated');
      if (result.reason === 'unverifiable') return refuse(reply, 500, 'jwks_unavailable', 'Update failed');
      return refuse(reply, 401, result.reason === 'no_tenant' ? 'no_tenant' : 'unauthorized', 'unauthorized');
    });

    app.setErrorHandler((err: Error & { statusCode?: number; code?: string }, req, reply) => {
      if (err instanceof BodyError) {
        closeAfterResponse(reply);
        if (err.statusCode === 413) {
          ingressMetrics.recordsRejected.inc({ source: 'sap', reason: err.reason });
          return reply.code(413).type('text/plain; charset=utf-8').send(`Payload Too Large: ${err.message}`);
        }
        if (err.statusCode === 408) return refuse(reply, 408, err.reason, 'timeout');
        // The adapter's documented message, spelling included.
        return refuse(reply, 400, err.reason, 'faild to retrieve request body');
      }
      if (isUnderPressure(err)) {
        reply.header('retry-after', String(cfg.LOAD_RETRY_AFTER_SECONDS));
        return refuse(reply, 503, 'overloaded', 'service unavailable');
      }
      // The adapter answers whatever it cannot decode with the parse error.
      if (isClientError(err)) return refuse(reply, 400, 'invalid_json', PARSE_FAILED);
      req.log.error({ err: errorMessage(err) }, 'unexpected error');
      return refuse(reply, 500, 'internal', 'Update failed');
    });

    const handler = async (req: FastifyRequest, reply: FastifyReply): Promise<FastifyReply> => {
      const receivedAt = Date.now();
      const tenant = req.sapTenant;
      if (!tenant) throw new Error('SAP route reached without an authenticated tenant');
      const reportType = parseReportType((req.query as Record<string, unknown>).reportType);
      if (!reportType) return refuse(reply, 400, 'invalid_report_type', "the query parameter 'reportType' is missing or invalid");
      const body = rawBody(req);
      ingressMetrics.bodyBytes.observe({ source: 'sap' }, body.length);
      const parsed = parseJsonBytes(body);
      if (!parsed.ok) return refuse(reply, 400, 'invalid_json', PARSE_FAILED);
      const check = checkSapReport(parsed.value);
      if (!check.ok) return refuse(reply, 400, check.message === PARSE_FAILED ? 'invalid_json' : 'missing_property', check.message);

      const reportId = randomUUID();
      const parts = splitIntoParts(body, SAP_PART_BYTES);
      const facts = deliveryFacts(req, receivedAt);
      const log = req.log.child({ report_id: reportId, tenant: tenant.consumerTenant });
      try {
        await writeRecords(
          deps,
          parts.map((payload, i) => ({
            topic: deps.topics.sapReports,
            key: tenant.consumerTenant,
            envelope: {
              event_id: `sap:${reportId}:${i + 1}`, source: 'sap' as const, kind: 'sap.report' as const, tenant: tenant.consumerTenant, ...facts, payload,
              attributes: { report_id: reportId, report_type: reportType, part: String(i + 1), parts: String(parts.length), external_tenant: tenant.externalTenant },
            },
          })),
        );
      } catch (err) {
        // Parts already written stay incomplete for this report_id and are never applied; the resend gets a new id.
        log.warn({ err: errorMessage(err), parts: parts.length }, 'Kafka did not take the report; answering 500');
        return refuse(reply, 500, 'kafka_unavailable', 'Update failed');
      }
      ingressMetrics.recordsAccepted.inc({ source: 'sap', kind: 'sap.report' }, parts.length);
      log.info({ report_type: reportType, bytes: body.length, parts: parts.length }, 'report accepted');
      return reply.code(204).send();
    };

    // The adapter's own examples call "/api/v1/notifications/?reportType=…": serve both spellings.
    for (const url of ['/api/v1/notifications', '/api/v1/notifications/']) app.put(url, { config: { source: 'sap' } }, handler);
  };
}
