// The common case of parseReport read directly: a body whose every key is spelled exactly as the SAP
// report contract names it, and whose every value has the type and presence the contract requires.
// For such a body the contract's decoding (keys matched case-insensitively, last one winning) and its
// validation give exactly this result, so a rebuild need not case-fold every key of every report.
// Anything else — another spelling, an extra key, a null where a value is required, an empty required
// value, a wrong type — gives undefined, and the contract itself reads the body (and words the rejection).
import { isObject } from '../shared/json.js';
import { isUsableIdentifier } from '../shared/contracts/identifiers.js';
import { storableOrNull, storableText } from '../shared/pg-text.js';
import type { ReportedScc } from './fold.js';

export function readCanonicalReport(json: unknown): ReportedScc[] | undefined {
  if (!isObject(json)) return undefined;
  let type: unknown;
  let value: unknown;
  for (const key in json) {
    if (key === 'type') type = json[key];
    else if (key === 'value') value = json[key];
    else return undefined;
  }
  if (!nonEmptyString(type) || !Array.isArray(value)) return undefined;
  const sccs: ReportedScc[] = [];
  for (const item of value) {
    const scc = readScc(item);
    if (!scc) return undefined;
    sccs.push(scc);
  }
  return sccs;
}

function readScc(item: unknown): ReportedScc | undefined {
  if (!isObject(item)) return undefined;
  let subaccount: unknown;
  let locationId: unknown;
  let exposed: unknown;
  for (const key in item) {
    if (key === 'subaccount') subaccount = item[key];
    else if (key === 'locationId') locationId = item[key];
    else if (key === 'exposedSystems') exposed = item[key];
    else return undefined;
  }
  if (!nonEmptyString(subaccount) || !optionalString(locationId) || !Array.isArray(exposed)) return undefined;
  // An unusable key part (identifiers.ts) is the contract's rejection to word.
  if (!isUsableIdentifier(subaccount) || (typeof locationId === 'string' && !isUsableIdentifier(locationId))) return undefined;
  const systems: ReportedScc['systems'] = [];
  for (const s of exposed) {
    if (!isObject(s)) return undefined;
    let protocol: unknown;
    let host: unknown;
    let type: unknown;
    let status: unknown;
    let description: unknown;
    let systemNumber: unknown;
    for (const key in s) {
      switch (key) {
        case 'protocol': protocol = s[key]; break;
        case 'host': host = s[key]; break;
        case 'type': type = s[key]; break;
        case 'status': status = s[key]; break;
        case 'description': description = s[key]; break;
        case 'systemNumber': systemNumber = s[key]; break;
        default: return undefined;
      }
    }
    if (!nonEmptyString(protocol) || !nonEmptyString(host) || !nonEmptyString(type) || !nonEmptyString(status)) return undefined;
    if (!optionalString(description) || !optionalString(systemNumber) || !isUsableIdentifier(host)) return undefined;
    // Free text is stored as fold.ts's readByContract stores it (pg-text.ts).
    systems.push({ host, protocol: storableText(protocol), type: storableText(type), systemStatus: storableText(status), description: storableOrNull(description ?? null), systemNumber: storableOrNull(systemNumber ?? null) });
  }
  return { subaccount, locationId: locationId ?? '', systems };
}

function nonEmptyString(v: unknown): v is string {
  return typeof v === 'string' && v !== '';
}

/** Absent or null (the contract leaves the field null) or a string. */
function optionalString(v: unknown): v is string | null | undefined {
  return v === undefined || v === null || typeof v === 'string';
}
