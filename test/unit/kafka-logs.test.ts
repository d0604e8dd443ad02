// What kafkajs reports while a fresh cluster settles is retried by the client and logged below warning;
// anything else keeps its level.
import { logLevel } from 'kafkajs';
import { describe, expect, it } from 'vitest';
import { kafkaLogLevel } from '../../services/shared/kafka.js';

describe('kafkaLogLevel', () => {
  it('logs the transient conditions of a starting cluster as info', () => {
    expect(kafkaLogLevel(logLevel.ERROR, 'Response GroupCoordinator(key: 10, version: 2)', { error: 'The coordinator is loading and hence can\'t process requests for this group' })).toBe('info');
    expect(kafkaLogLevel(logLevel.ERROR, '[Connection] Response Metadata(key: 3, version: 6)', { error: 'There is no leader for this topic-partition as we are in the middle of a leadership election' })).toBe('info');
    expect(kafkaLogLevel(logLevel.ERROR, 'Response Produce', { error: 'This server does not host this topic-partition' })).toBe('info');
    expect(kafkaLogLevel(logLevel.ERROR, 'Response CreateTopics(key: 19, version: 3)', { error: 'Topic creation errors' })).toBe('info');
    expect(kafkaLogLevel(logLevel.WARN, '[Connection] Response JoinGroup', { error: 'The group coordinator is not available' })).toBe('info');
  });

  it('keeps real errors and warnings at their level, and the rest at debug', () => {
    expect(kafkaLogLevel(logLevel.ERROR, 'Response SaslAuthenticate', { error: 'Authentication failed during authentication due to invalid credentials with SASL mechanism SCRAM-SHA-256' })).toBe('error');
    expect(kafkaLogLevel(logLevel.WARN, 'Limiting retries for the idempotent producer may invalidate EoS guarantees', {})).toBe('warn');
    // A crash stays visible even when its cause is transient: kafkajs restarts the consumer, but it is worth a look.
    expect(kafkaLogLevel(logLevel.ERROR, 'Crash: KafkaJSNonRetriableError', { error: 'The group coordinator is not available' })).toBe('warn');
    // What a fresh start showed at error level (fault suite, fresh starts): a restart and a write to a closed socket.
    expect(kafkaLogLevel(logLevel.ERROR, 'Restarting the consumer in 300ms', { retryTime: 300 })).toBe('warn');
    expect(kafkaLogLevel(logLevel.ERROR, 'Connection error: write after end', { stack: 'Error [ERR_STREAM_WRITE_AFTER_END]: write after end\n    at _write' })).toBe('warn');
    expect(kafkaLogLevel(logLevel.INFO, 'Consumer has joined the group', {})).toBe('debug');
  });
});
