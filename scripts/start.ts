// `npm start`: the whole system on its embedded defaults, in one terminal.
// Provisions and starts the local Kafka broker and schema registry (unless KAFKA_BROKERS and
// SCHEMA_REGISTRY_URL point elsewhere), then ingress and the three consumers as child processes,
// prints where everything listens and the credentials to send a first webhook, restarts a service
// or a local Kafka/registry process that dies once the system runs (restart-policy.ts), and on Ctrl-C
// stops the services (each drains and commits) and then the local infrastructure it started.
//
// Ctrl-C reaches every process of the terminal's foreground group at once: the services get the
// terminal's SIGINT and this script's SIGTERM, and take both as one stop (services/shared/shutdown.ts).
// A second Ctrl-C, after the "draining…" line and the signal window, makes them exit at once.
// `npm start` runs this file with `node --import tsx`, not the tsx CLI: the CLI's wrapper SIGKILLs its child
// when the child does not acknowledge a signal within 30 ms, and on a busy machine that cut every drain
// short (the services then died writing to their closed log pipes).
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import 'dotenv/config';
import { SignJWT } from 'jose';
import { defaultStackOptions, markStackOwner, portAnswers, processRuns, repoRoot, stackLeftByDeadOwner, stackProcesses, startStack, stopStack } from '../infra/local/stack.js';
import { SIGNAL_WINDOW_MS } from '../services/shared/shutdown.js';
import { DEV_DEFAULTS, SERVICES } from './dev-defaults.js';
import { DEFAULT_RESTART_POLICY, decideRestart } from './restart-policy.js';
import { randomBytes } from 'node:crypto';


/**
 * kafkajs 2.2.4 sets a negative timer when its request queue is idle; Node 24 warns about each such timer
 * once per process (`TimeoutNegativeWarning`, kafkajs issue #1751: Node runs it after 1 ms, as before). The
 * console of `npm start` shows every line a service prints that is not a log line, so that one warning type,
 * and only it, is switched off.
 */
const QUIET_KNOWN_WARNINGS = ['--disable-warning=TimeoutNegativeWarning'];

/**
 * The console can go away while the system runs: `npm start | tee start.log` loses its reader on Ctrl-C
 * (the terminal signals tee too), and a closed terminal window takes the tty. Writing to it then fails
 * (EPIPE, EIO); from then on only the log files are written, and the drain and the stop of the local
 * Kafka and registry go on. Unhandled, the first failed write would end this script mid-drain and leave
 * the JVMs running.
 */
let consoleGone = false;
for (const stream of [process.stdout, process.stderr]) {
  stream.on('error', () => {
    consoleGone = true;
  });
}

function say(line = ''): void {
  if (!consoleGone) process.stdout.write(`${line}\n`);
}

async function main(): Promise<void> {
  const env: NodeJS.ProcessEnv = { ...process.env };
  const usingDefaults = new Set<string>();
  for (const [k, v] of Object.entries(DEV_DEFAULTS)) {
    // NAME_FILE (a secret in a file) counts as set: the services refuse NAME and NAME_FILE together.
    if (!env[k] && !env[`${k}_FILE`]) {
      env[k] = v;
      usingDefaults.add(k);
    }
  }
  // The trail shows subscriber identifiers: never open, not even on a laptop. A fresh random token per
  // start (printed below) unless .env sets one, so no well-known trail credential exists.
  if (!env.TRAIL_API_TOKENS && !env.TRAIL_API_TOKENS_FILE) {
    env.TRAIL_API_TOKENS = `dev-trail-${randomBytes(12).toString('hex')}`;
    usingDefaults.add('TRAIL_API_TOKENS');
  }
  const dataDir = resolve(repoRoot, env.DATA_DIR!);
  const logDir = join(dataDir, 'logs');
  mkdirSync(logDir, { recursive: true });

  let startedInfra = false;
  let stackWatch: NodeJS.Timeout | undefined;
  const stackOpts = defaultStackOptions(env);
  if (!env.KAFKA_BROKERS || !env.SCHEMA_REGISTRY_URL) {
    say('Starting the local Kafka broker and schema registry (first run downloads them from Maven Central)…');
    // Leave a stack that was already running (npm run infra:up) running on exit; take over one that an
    // earlier npm start left behind when it was killed, so that it stops with this one.
    const alreadyRunning = await portAnswers(stackOpts.kafkaPort);
    const leftBy = alreadyRunning ? stackLeftByDeadOwner(stackOpts.stateDir) : undefined;
    if (leftBy !== undefined) say(`  taking over the local Kafka and registry that an earlier npm start (pid ${leftBy}) left running; they stop with this one`);
    startedInfra = !alreadyRunning || leftBy !== undefined;
    const { brokers, registryUrl, replicationFactor } = await startStack({ ...stackOpts, log: (l) => say(`  ${l}`) });
    if (startedInfra) markStackOwner(stackOpts.stateDir, process.pid);
    env.KAFKA_BROKERS = brokers;
    env.SCHEMA_REGISTRY_URL = registryUrl;
    // LOCAL_KAFKA_NODES=3: the services' topics are replicated like the cluster (unless set in .env).
    env.KAFKA_REPLICATION_FACTOR ||= String(replicationFactor);
  }

  // Ingress accepts the public development credentials on a non-loopback HOST only under npm start.
  env.SWITCHBOARD_STARTED_BY = 'npm-start';

  const portVariable = (svc: (typeof SERVICES)[number]): string => `${svc.name.toUpperCase().replace('-', '_')}_PORT`;
  const portOf = (svc: (typeof SERVICES)[number]): number => Number(env[portVariable(svc)] ?? svc.port);
  // Services whose start failed because their port is taken, for a message that says what to do about it.
  const portTaken = new Set<string>();
  const children = new Map<string, ChildProcess>();
  let stopping = false;
  let stopSignalAt = 0;
  let forced = false;
  const onSignal = (): void => {
    if (!stopping) {
      stopSignalAt = Date.now();
      void shutdown(0);
      return;
    }
    // The same Ctrl-C (the terminal signals the whole group), or a supervisor's signal beside it.
    if (Date.now() - stopSignalAt < SIGNAL_WINDOW_MS || forced) return;
    forced = true;
    say('Second Ctrl-C: the services exit now, without finishing their drain.');
    // Past the window every service takes a signal as "exit now" (it may have had the terminal's already).
    for (const c of children.values()) if (c.exitCode === null && c.signalCode === null) c.kill('SIGTERM');
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  // A closed terminal window: the same stop as Ctrl-C (the services take its SIGHUP the same way).
  process.on('SIGHUP', onSignal);
  // Set once every service answered /readyz: from then on a service that exits is restarted
  // (restart-policy.ts); before that an exit is a start-up failure and stops everything.
  let running = false;
  const restartedAt = new Map<string, number[]>();
  const restartTimers = new Set<NodeJS.Timeout>();
  const launch = (svc: (typeof SERVICES)[number]): void => {
    // node --import tsx (not the tsx CLI, whose extra wrapper process would not pass on a SIGKILL).
    const child = spawn(process.execPath, [...QUIET_KNOWN_WARNINGS, '--import', 'tsx', svc.entry], {
      cwd: repoRoot,
      env: { ...env, PORT: String(portOf(svc)) },
      // stdin: a pipe never written to, whose end tells the service that this script is gone (shutdown.ts).
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    children.set(svc.name, child);
    const file = createWriteStream(join(logDir, `${svc.name}.log`), { flags: 'a' });
    for (const stream of [child.stdout!, child.stderr!]) {
      createInterface({ input: stream }).on('line', (line) => {
        file.write(`${line}\n`);
        if (!running && line.includes('EADDRINUSE')) portTaken.add(svc.name);
        // The console shows warnings, errors and anything that is not a JSON log line (start-up failures),
        // and each service's drain and stop (a service may log its drain before this script saw the signal).
        if (!line.startsWith('{') || /"level":"(warn|error|fatal)"/.test(line)) say(`[${svc.name}] ${line}`);
        else {
          const m = /"msg":"(draining…|stopped)[^"]*"/.exec(line);
          if (m?.[1] === 'draining…') say(`[${svc.name}] draining…`);
          else if (m?.[1] === 'stopped') say(`[${svc.name}] stopped after ${/"ms":(\d+)/.exec(line)?.[1] ?? '?'} ms`);
        }
      });
    }
    child.on('exit', (code, signal) => {
      const how = `exited (code ${code ?? signal}); see ${join(logDir, `${svc.name}.log`)}`;
      if (stopping) {
        if (code !== 0) say(`[${svc.name}] exited (code ${code ?? signal})`);
        return;
      }
      if (!running) {
        if (portTaken.has(svc.name)) say(`[${svc.name}] port ${portOf(svc)} is taken by another program: stop it, or set ${portVariable(svc)} to a free port in .env.`);
        say(`[${svc.name}] ${how}. Stopping everything.`);
        void shutdown(1);
        return;
      }
      const history = restartedAt.get(svc.name) ?? [];
      const decision = decideRestart(history, Date.now());
      if (!decision.restart) {
        say(`[${svc.name}] ${how}. It exited ${decision.restarts + 1} times within ${DEFAULT_RESTART_POLICY.windowMs / 60_000} minutes: stopping everything.`);
        void shutdown(1);
        return;
      }
      say(`[${svc.name}] ${how}. Restarting it in ${decision.delayMs / 1000} s (restart ${decision.attempt} of ${DEFAULT_RESTART_POLICY.maxRestarts} allowed within ${DEFAULT_RESTART_POLICY.windowMs / 60_000} minutes).`);
      const timer = setTimeout(() => {
        restartTimers.delete(timer);
        if (stopping) return;
        restartedAt.set(svc.name, [...history, Date.now()]);
        launch(svc);
        void waitReady(svc.name, portOf(svc)).then((ok) => {
          if (ok && !stopping) say(`[${svc.name}] running again.`);
        });
      }, decision.delayMs);
      restartTimers.add(timer);
    });
  };
  for (const svc of SERVICES) launch(svc);

  const waitReady = async (name: string, port: number): Promise<boolean> => {
    const deadline = Date.now() + 90_000;
    while (Date.now() < deadline && !stopping) {
      try {
        const res = await fetch(`http://127.0.0.1:${port}/readyz`, { signal: AbortSignal.timeout(1000) });
        if (res.ok) return true;
      } catch {
        // not up yet
      }
      await new Promise((r) => setTimeout(r, 300));
    }
    // Stopping (another service failed to start, or Ctrl-C) is not this one's failure: nothing to say.
    if (!stopping) say(`[${name}] not ready after 90 s; see ${join(logDir, `${name}.log`)}`);
    return false;
  };
  const ready = await Promise.all(SERVICES.map((s) => waitReady(s.name, portOf(s))));
  if (stopping) return;
  running = true;
  if (startedInfra) watchStack();

  const [ingressPort, provisioningPort, sheetPort, inventoryPort, trailPort] = SERVICES.map(portOf);
  const ingress = `http://127.0.0.1:${ingressPort}`;
  const jwt = usingDefaults.has('SAP_JWT_HS256_SECRET')
    ? await new SignJWT({ tenant: { consumerTenant: 'demo-tenant', externalTenant: 'demo-external' } })
        .setProtectedHeader({ alg: 'HS256' })
        .setIssuedAt()
        .setExpirationTime('24h')
        .sign(new TextEncoder().encode(env.SAP_JWT_HS256_SECRET))
    : '<a JWT signed with your SAP_JWT_HS256_SECRET or JWKS key>';
  say('');
  say(`Switchboard is ${ready.every(Boolean) ? 'running' : 'partly running'}.`);
  say(`  Kafka:            ${env.KAFKA_BROKERS}`);
  say(`  Schema registry:  ${env.SCHEMA_REGISTRY_URL}`);
  say(`  Ingress:          ${ingress}   (metrics ${ingress}/metrics)`);
  say(`  SCC inventory:    http://127.0.0.1:${inventoryPort}/systems`);
  say(`  Provisioning:     http://127.0.0.1:${provisioningPort}/metrics   (WTL dry run: ${join(logDir, 'provisioning.log')})`);
  say(`  Sheet export:     http://127.0.0.1:${sheetPort}/metrics   (CSV files: ${join(dataDir, 'sheets')})`);
  say(`  Trail:            http://127.0.0.1:${trailPort}/   (what happened to each event; API /events)`);
  say(`  Logs:             ${logDir}`);
  say('');
  if (usingDefaults.size > 0) {
    say('Development credentials (embedded defaults; set your own in .env before exposing this):');
    if (usingDefaults.has('NSPS_API_TOKENS')) say(`  NSPS:  Authorization: Bearer ${env.NSPS_API_TOKENS}`);
    if (usingDefaults.has('ONCE_BASIC_AUTH_USERS')) say(`  1NCE:  Basic auth ${env.ONCE_BASIC_AUTH_USERS}   (POST ${ingress}/1nce/data-streamer)`);
    if (usingDefaults.has('SAP_JWT_HS256_SECRET')) say(`  SAP:   Authorization: Bearer ${jwt}`);
    if (usingDefaults.has('TRAIL_API_TOKENS')) say(`  Trail: Authorization: Bearer ${env.TRAIL_API_TOKENS}   (TRAIL_API_TOKEN=${env.TRAIL_API_TOKENS} npm run trail -- <event_id>)`);
    if (env.HOST && !/^(127\.|localhost$|::1$|\[::1\]$)/.test(env.HOST)) say(`  WARNING: HOST=${env.HOST} exposes ingress beyond this machine with these public credentials.`);
    say('');
  }
  say('Next, in a second terminal:  npm run samples   (sends every source\'s example webhooks)');
  say(`Try one by hand:  curl -i -X POST ${ingress}/process-event -H 'Authorization: Bearer ${usingDefaults.has('NSPS_API_TOKENS') ? env.NSPS_API_TOKENS : '<token>'}' -H 'Content-Type: application/json' --data @samples/nsps-event.json`);
  say('Stop everything with Ctrl-C (each service drains and commits; a second Ctrl-C exits at once).');

  /**
   * The local Kafka and registry this command started are watched like the services: one that dies is
   * started again under the same policy (startStack starts only what is not running; a broker keeps its
   * data folder, so nothing acknowledged is lost), while the services wait for it as for any outage.
   */
  function watchStack(): void {
    let watched = stackProcesses(stackOpts.stateDir);
    const restarts = new Map<string, number[]>();
    let restarting = false;
    stackWatch = setInterval(() => {
      if (stopping || restarting) return;
      const dead = watched.filter((p) => !processRuns(p.pid));
      if (dead.length === 0) return;
      restarting = true;
      void (async () => {
        let delayMs = 0;
        for (const p of dead) {
          const history = restarts.get(p.name) ?? [];
          const decision = decideRestart(history, Date.now());
          if (!decision.restart) {
            say(`The local ${p.name} (pid ${p.pid}) exited; see ${p.log}. It exited ${decision.restarts + 1} times within ${DEFAULT_RESTART_POLICY.windowMs / 60_000} minutes: stopping everything.`);
            void shutdown(1);
            return;
          }
          restarts.set(p.name, [...history, Date.now()]);
          delayMs = Math.max(delayMs, decision.delayMs);
          say(`The local ${p.name} (pid ${p.pid}) exited; see ${p.log}. Starting it again in ${decision.delayMs / 1000} s (restart ${decision.attempt} of ${DEFAULT_RESTART_POLICY.maxRestarts} allowed within ${DEFAULT_RESTART_POLICY.windowMs / 60_000} minutes); the services wait for it.`);
        }
        const names = dead.map((p) => p.name).join(' and ');
        try {
          await new Promise((r) => setTimeout(r, delayMs));
          if (stopping) return;
          await startStack({ ...stackOpts, log: (l) => say(`  ${l}`) });
          watched = stackProcesses(stackOpts.stateDir);
          if (!stopping) say(`The local ${names} ${dead.length > 1 ? 'are' : 'is'} running again.`);
        } catch (err) {
          if (stopping) return;
          say(`The local ${names} could not be started again: ${err instanceof Error ? err.message : String(err)}. Stopping everything.`);
          void shutdown(1);
        } finally {
          restarting = false;
        }
      })();
    }, 2000);
  }

  async function shutdown(code: number): Promise<void> {
    if (stopping) return;
    stopping = true;
    if (stackWatch) clearInterval(stackWatch);
    for (const timer of restartTimers) clearTimeout(timer);
    say(`\nDraining… each service stops accepting, finishes or abandons its in-flight work, commits and disconnects. Ctrl-C again (after ${SIGNAL_WINDOW_MS / 1000} s) to exit at once.`);
    await Promise.all(
      [...children.values()].map(
        (c) =>
          new Promise<void>((resolveP) => {
            if (c.exitCode !== null || c.signalCode !== null) return resolveP();
            const kill = setTimeout(() => c.kill('SIGKILL'), 25_000);
            c.once('exit', () => {
              clearTimeout(kill);
              resolveP();
            });
            c.kill('SIGTERM');
          }),
      ),
    );
    if (startedInfra) await stopStack(stackOpts.stateDir, (l) => say(`  ${l}`));
    say('Stopped.');
    process.exit(code);
  }
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? err.message : err);
  process.exit(1);
});
