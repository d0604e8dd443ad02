import type { BenchContext } from '../lib/context.js';
import { notRun, type ScenarioResult } from '../lib/report.js';
import type { BenchClients } from '../lib/shared.js';

export async function provisioningScenario(_ctx: BenchContext, _clients: BenchClients): Promise<ScenarioResult> {
  return notRun('?', 'provisioning', 'not written yet');
}
