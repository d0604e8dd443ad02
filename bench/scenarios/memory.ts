import type { BenchContext } from '../lib/context.js';
import { notRun, type ScenarioResult } from '../lib/report.js';
import type { BenchClients } from '../lib/shared.js';

export async function memoryScenario(_ctx: BenchContext, _clients: BenchClients): Promise<ScenarioResult> {
  return notRun('?', 'memory', 'not written yet');
}
