// Rewinds a consumer group's committed offsets, so the group's consumers re-read their topics from the
// beginning or from a point in time. Their idempotency records (keyed on event_id) make the re-read
// effect-free for what already happened; what did not happen yet happens once.
//
// Kafka refuses to move the offsets of a group that has live members (they would overwrite them with
// their next commit), so the group must be empty: stop every instance of the service first.
import type { Admin, Kafka } from 'kafkajs';

export class GroupNotEmptyError extends Error {
  constructor(readonly groupId: string, readonly state: string, readonly members: string[]) {
    super(
      `consumer group "${groupId}" is not empty (state ${state}, ${members.length} member(s): ${members.join(', ') || 'unknown'}). ` +
        'Stop every instance of the service, wait for its session to expire, then run the replay again.',
    );
    this.name = 'GroupNotEmptyError';
  }
}

export interface RewindOptions {
  kafka: Kafka;
  groupId: string;
  topics: string[];
  /** Rewind to the first record at or after this time; absent: to the beginning of each partition. */
  from?: Date | undefined;
}

export interface RewoundPartition {
  topic: string;
  partition: number;
  /** The group's committed offset before the rewind ('-1' when it had none). */
  previous: string;
  offset: string;
}

/** Moves the group's committed offsets back and returns, per partition, where it was and where it is now. */
export async function rewindGroup(opts: RewindOptions): Promise<RewoundPartition[]> {
  const admin = opts.kafka.admin();
  await admin.connect();
  try {
    const existing = new Set(await admin.listTopics());
    const missing = opts.topics.filter((t) => !existing.has(t));
    if (missing.length > 0) throw new Error(`topic(s) ${missing.join(', ')} do not exist (check KAFKA_TOPIC_PREFIX and KAFKA_BROKERS)`);
    await assertGroupEmpty(admin, opts.groupId);
    const before = await admin.fetchOffsets({ groupId: opts.groupId, topics: opts.topics });
    const previousOf = (topic: string, partition: number): string =>
      before.find((t) => t.topic === topic)?.partitions.find((p) => p.partition === partition)?.offset ?? '-1';
    const result: RewoundPartition[] = [];
    for (const topic of opts.topics) {
      const targets = opts.from
        ? await admin.fetchTopicOffsetsByTimestamp(topic, opts.from.getTime())
        : (await admin.fetchTopicOffsets(topic)).map((o) => ({ partition: o.partition, offset: o.low }));
      await admin.setOffsets({ groupId: opts.groupId, topic, partitions: targets.map((t) => ({ partition: t.partition, offset: t.offset })) });
      for (const t of targets) result.push({ topic, partition: t.partition, previous: previousOf(topic, t.partition), offset: t.offset });
    }
    return result;
  } finally {
    await admin.disconnect();
  }
}

export async function assertGroupEmpty(admin: Admin, groupId: string): Promise<void> {
  const { groups } = await admin.describeGroups([groupId]);
  const group = groups[0];
  if (!group) return;
  // 'Dead' = the group does not exist (yet); 'Empty' = no members. Anything else has live consumers.
  if (group.state !== 'Empty' && group.state !== 'Dead') {
    throw new GroupNotEmptyError(groupId, group.state, group.members.map((m) => `${m.clientId}@${m.clientHost}`));
  }
}
