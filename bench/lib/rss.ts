// Resident memory of a process from /proc/<pid>/status: VmRSS sampled on an interval for the
// peak during a window, and VmHWM (the kernel's own high-water mark since the process started).
import { readFileSync } from 'node:fs';

export interface MemoryReading {
  rssMb: number;
  hwmMb: number;
}

export function readMemory(pid: number): MemoryReading | undefined {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = (field: string): number => Number(new RegExp(`^${field}:\\s+(\\d+)\\s+kB`, 'm').exec(status)?.[1] ?? Number.NaN);
    return { rssMb: kb('VmRSS') / 1024, hwmMb: kb('VmHWM') / 1024 };
  } catch {
    return undefined; // the process is gone
  }
}

export interface RssSampler {
  /** Stops sampling; the peak VmRSS seen during the window and the last VmHWM read. */
  stop(): { peakRssMb: number; hwmMb: number; samples: number };
}

export function sampleRss(pid: number, intervalMs = 50): RssSampler {
  let peak = 0;
  let hwm = Number.NaN;
  let samples = 0;
  const take = (): void => {
    const m = readMemory(pid);
    // A zombie (exited, not yet reaped) has no memory lines: keep what was read before.
    if (!m || !Number.isFinite(m.rssMb)) return;
    samples++;
    peak = Math.max(peak, m.rssMb);
    if (Number.isFinite(m.hwmMb)) hwm = m.hwmMb;
  };
  take();
  const timer = setInterval(take, intervalMs);
  return {
    stop() {
      take();
      clearInterval(timer);
      return { peakRssMb: peak, hwmMb: hwm, samples };
    },
  };
}
