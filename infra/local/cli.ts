// npm run infra:up | infra:down | infra:fetch — the local Kafka broker and schema registry.
// LOCAL_KAFKA_NODES=3 npm run infra:up starts a replicated 3-node KRaft cluster instead of one node
// (nodes on LOCAL_KAFKA_PORT, +2, +4; controllers on LOCAL_KAFKA_CONTROLLER_PORT, +2, +4; broker metrics
// of the JMX exporter agent on LOCAL_KAFKA_METRICS_PORT, +1, +2).
import { clearStackOwner, defaultStackOptions, fetchJmxAgent, fetchKafka, fetchRegistry, startStack, stopStack } from './stack.js';

const command = process.argv[2];
const opts = defaultStackOptions();

switch (command) {
  case 'fetch':
    fetchKafka();
    fetchJmxAgent();
    fetchRegistry();
    console.log('Kafka, JMX exporter agent and schema registry jars are cached under .local/cache');
    break;
  case 'up': {
    const started = Date.now();
    const { brokers, registryUrl, replicationFactor, metricsTargets } = await startStack(opts);
    // From now on the stack is the user's, also one an `npm start` started and left behind: no later
    // `npm start` takes it over and stops it.
    clearStackOwner(opts.stateDir);
    console.log(`${(opts.kafkaNodes ?? 1) > 1 ? 'Kafka brokers:   ' : 'Kafka broker:    '}${brokers}`);
    if (replicationFactor > 1) console.log(`  services need:  KAFKA_BROKERS=${brokers} KAFKA_REPLICATION_FACTOR=${replicationFactor}`);
    console.log(`Broker metrics:   ${metricsTargets.map((t) => `http://${t}/metrics`).join(' ')}`);
    console.log(`Schema registry:  ${registryUrl}`);
    console.log(`ready in ${((Date.now() - started) / 1000).toFixed(1)} s; stop with: npm run infra:down`);
    break;
  }
  case 'down':
    await stopStack(opts.stateDir);
    console.log('local Kafka and schema registry stopped');
    break;
  default:
    console.error('usage: tsx infra/local/cli.ts fetch|up|down');
    process.exit(2);
}
