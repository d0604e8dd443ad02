// `npm run trail`'s terminal rendering of a timeline.
import { describe, expect, it } from 'vitest';
import { formatTimeline } from '../../scripts/trail.js';
import type { EventTimeline } from '../../services/trail/queries.js';

describe('formatTimeline', () => {
  const event = {
    event_id: 'sap:r:1', source: 'sap', kind: 'sap.report', event_type: 'full', key: 'tenant-a', tenant: 'tenant-a', request_id: 'req-1',
    received_at: '2026-01-31T09:00:00.000Z', topic: 'switchboard.raw.sap.reports', partition: 1, offset: 7, size: 120, sibling_group: 'sap:r', attributes: {},
  };

  it('prints the event, its outcomes oldest first with reasons and effects, and its siblings', () => {
    const t: EventTimeline = {
      event, deliveries: [event], siblings: ['sap:r:2'],
      outcomes: [
        { consumer: 'scc-inventory', outcome: 'retrying', attempt: 1, reason: 'unavailable: database', at: '2026-01-31T09:00:01.000Z', effect: {} },
        { consumer: 'scc-inventory', outcome: 'applied', attempt: 2, reason: null, at: '2026-01-31T09:00:05.000Z', effect: { report_id: 'r', system_ids: 'a,b' } },
      ],
    };
    expect(formatTimeline('sap:r:1', t)).toBe([
      'sap:r:1  sap sap.report (full)',
      '  key tenant-a  tenant tenant-a  request req-1  120 bytes',
      '  switchboard.raw.sap.reports[1]@7',
      '',
      '2026-01-31T09:00:00.000Z  received',
      '2026-01-31T09:00:01.000Z  scc-inventory  retrying: unavailable: database',
      '2026-01-31T09:00:05.000Z  scc-inventory  applied (attempt 2)  [report_id=r system_ids=a,b]',
      '',
      'same report (1): sap:r:2',
      '',
    ].join('\n'));
  });

  it('says when only outcomes are known', () => {
    const text = formatTimeline('x', { event: null, deliveries: [], siblings: [], outcomes: [] });
    expect(text).toContain('x  (the event is not in the trail');
    expect(text).toContain('(no consumer has reported on it yet)');
  });
});
