// The default Kafka client of ingress decided by numbers: ingress with @platformatic/kafka against
// ingress with kafkajs, from runs paired by round, reported with their spread and a verdict that is
// "not separated" unless the bootstrap interval of the ratio lies wholly on one side of 1.
import { fmt } from './report.js';
import { comparePaired, median, range } from './stats.js';

export const CLIENT_TABLE_HEADERS = [
  'load', 'runs each', 'platformatic median', 'platformatic min–max', 'kafkajs median', 'kafkajs min–max',
  'platformatic / kafkajs (median of per-round ratios)', '95 % interval (bootstrap)', 'verdict',
];

/** One row of the client table for one load (e.g. "50 connections, req/s"). */
export function clientChoiceRow(load: string, platformatic: readonly number[], kafkajs: readonly number[]): { row: string[]; verdict: string } {
  const c = comparePaired(platformatic, kafkajs);
  const p = range(platformatic);
  const k = range(kafkajs);
  const verdict = c.faster === 'A' ? 'faster: platformatic' : c.faster === 'B' ? 'faster: kafkajs' : 'not separated';
  return {
    verdict,
    row: [
      load, String(c.pairs),
      fmt(median(platformatic)), `${fmt(p.min)}–${fmt(p.max)}`,
      fmt(median(kafkajs)), `${fmt(k.min)}–${fmt(k.max)}`,
      fmt(c.medianRatio, 2), Number.isFinite(c.low) ? `${fmt(c.low, 2)}–${fmt(c.high, 2)}` : `– (fewer than 3 rounds)`, verdict,
    ],
  };
}

export const CLIENT_METHOD_NOTE =
  'Client choice: the two ingress children (KAFKA_PRODUCER_CLIENT=platformatic and =kafkajs) run in every round, seconds apart, in alternating order. ' +
  'For each round the ratio platformatic / kafkajs is taken (the machine\'s slow drifts hit both runs of a round alike); the table gives the median of those ratios and its 95 % bootstrap interval ' +
  '(10,000 resamples of the rounds, fixed seed, percentile method), and each client\'s median and min–max. "faster: X" only when the interval lies wholly above or below 1; otherwise "not separated".';
