// SAP Notification Service Adapter contract: PUT /api/v1/notifications?reportType=full|delta with a JWT.
// Here a report becomes Kafka records: the body split into consecutive parts of at most
// MAX_RECORD_BYTES, all keyed by tenant, each carrying report_id/part/parts so consumers apply a
// report only once they hold every part. Error bodies are exactly the adapter's documented ones.
import { randomUUID } from 'node:crypto';
import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import { errorMessage } from '../../shared/errors.js';
import { MAX_RECORD_BYTES } from '../../shared/topics.js';
import { bearerToken } from '../../shared/credentials.js';
import { parseJsonBytes } from '../../shared/contracts/json.js';
import { PARSE_FAILED, checkSapReport, splitIntoParts, type ReportType, type TenantClaim } from '../../shared/contracts/sap-report.js';
import { deliveryFacts, rawBody, readOwnBody, writeRecords, type SourceDeps } from './common.js';
import { errorBodySchema, useReplies } from './replies.js';
import { createSapVerifier } from './sap-auth.js';

declare module 'fastify' {
  interface FastifyRequest {
    sapTenant: TenantClaim | null;
  }
}

/** Room left in each record for the envelope around the part (ids, tenant, headers). */
const ENVELOPE_ROOM_BYTES = 8 * 1024;
export const SAP_PART_BYTES = MAX_RECORD_BYTES - ENVELOPE_ROOM_BYTES;

export function sapSource(deps: SourceDeps): FastifyPluginAsync {
  const { cfg, ingressMetrics } = deps;
  const verifier = createSapVerifier(cfg);
  const errorBody = errorBodySchema('sap');
  // reportType is exactly `full` or `delta` (one value). Its failure is answered by the handler
  // (attachValidation), after the body limits, in the adapter's order. The 5 MB body is not declared:
  // it is read as bytes, checked like the adapter checks it, and split into record parts as received.
  // The 413 is plain text, so it has no response schema.
  const schema = {
    querystring: { type: 'object', properties: { reportType: { type: 'string', enum: ['full', 'delta'] } }, required: ['reportType'] },
    response: { 400: errorBody, 401: errorBody, 408: errorBody, 500: errorBody, 503: errorBody },
  };

  return async (app) => {
    app.decorateRequest('sapTenant', null);
    readOwnBody(app, cfg.SAP_MAX_BODY_BYTES, cfg);
    const refuse = useReplies(app, 'sap', deps);

    // Like the reference adapter, authentication comes first: 401 precedes every 400/413.
    app.addHook('onRequest', async (req, reply) => {
      const token = bearerToken(req.headers.authorization);
      const result = token === undefined ? ({ ok: false, reason: 'invalid', detail: 'no bearer token' } as const) : await verifier(token);
      if (result.ok) {
        req.sapTenant = result.tenant;
        return;
      }
      req.log.info({ reason: result.reason, detail: result.detail }, 'SAP request not authenticated');
      if (result.reason === 'unverifiable') return refuse(reply, 'jwks_unavailable');
      return refuse(reply, result.reason === 'no_tenant' ? 'no_tenant' : 'unauthorized');
    });

    const handler = async (req: FastifyRequest, reply: FastifyReply): Promise<FastifyReply> => {
      const receivedAt = Date.now();
      const tenant = req.sapTenant;
      if (!tenant) throw new Error('SAP route reached without an authenticated tenant');
      if (req.validationError) return refuse(reply, 'invalid_report_type');
      const { reportType } = req.query as { reportType: ReportType };
      const body = rawBody(req);
      ingressMetrics.bodyBytes.observe({ source: 'sap' }, body.length);
      const parsed = parseJsonBytes(body);
      if (!parsed.ok) return refuse(reply, 'invalid_json');
      const check = checkSapReport(parsed.value);
      if (!check.ok) return refuse(reply, check.message === PARSE_FAILED ? 'invalid_json' : 'missing_property', check.message);

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
        return refuse(reply, 'kafka_unavailable');
      }
      ingressMetrics.recordsAccepted.inc({ source: 'sap', kind: 'sap.report' }, parts.length);
      log.info({ report_type: reportType, bytes: body.length, parts: parts.length }, 'report accepted');
      return reply.code(204).send();
    };

    // The adapter's own examples call "/api/v1/notifications/?reportType=…": serve both spellings.
    for (const url of ['/api/v1/notifications', '/api/v1/notifications/']) app.put(url, { config: { source: 'sap' }, schema, attachValidation: true }, handler);
  };
}
