// Shared-secret comparison that takes the same time whether the first byte or the last one differs.
// timingSafeEqual needs equal lengths, so both sides are first brought to one fixed width: a value of up
// to SLOT_BYTES bytes is zero-padded to it (its length is compared separately, so padding never makes two
// values equal), a longer one is hashed. Neither the secret's content nor its length shows in the time
// an answer takes. Every configured secret is compared (no early return), so the answer time does not
// reveal which one matched either. Padding instead of hashing every candidate: a SHA-256 object per
// request was about 2.5 µs of an NSPS request's CPU.
import { createHash, timingSafeEqual } from 'node:crypto';

/** Values up to this many UTF-8 bytes are compared padded; longer ones by their SHA-256 digest. */
const SLOT_BYTES = 256;

interface Comparable {
  /** SLOT_BYTES bytes: the value zero-padded, or its digest zero-padded. */
  slot: Buffer;
  /** The value's byte length, or -1 for a digest: values of different lengths never match. */
  length: number;
}

function comparable(value: string, into: Buffer = Buffer.alloc(SLOT_BYTES)): Comparable {
  into.fill(0);
  const length = Buffer.byteLength(value, 'utf8');
  if (length <= SLOT_BYTES) {
    into.write(value, 0, 'utf8');
    return { slot: into, length };
  }
  createHash('sha256').update(value, 'utf8').digest().copy(into);
  return { slot: into, length: -1 };
}

/** A matcher over fixed secrets: their padded forms are made once, the candidate's on every call. */
export function secretMatcher(secrets: readonly string[]): (candidate: string) => boolean {
  const known = secrets.map((s) => comparable(s));
  // Reused for every candidate: the comparison is synchronous, so one call never sees another's bytes.
  const scratch = Buffer.alloc(SLOT_BYTES);
  return (candidate) => {
    const given = comparable(candidate, scratch);
    let matched = false;
    for (const k of known) matched = (timingSafeEqual(given.slot, k.slot) && given.length === k.length) || matched;
    return matched;
  };
}

export function matchesAny(candidate: string, secrets: readonly string[]): boolean {
  return secretMatcher(secrets)(candidate);
}

export interface BasicUser {
  username: string;
  password: string;
}

/** "user:password" entries; the password is everything after the first colon, so it may contain colons. */
export function parseBasicUsers(entries: readonly string[]): { users: BasicUser[]; problems: string[] } {
  const users: BasicUser[] = [];
  const problems: string[] = [];
  entries.forEach((entry, i) => {
    const colon = entry.indexOf(':');
    if (colon <= 0 || colon === entry.length - 1) problems.push(`entry ${i + 1} must be user:password`);
    else users.push({ username: entry.slice(0, colon), password: entry.slice(colon + 1) });
  });
  return { users, problems };
}

/** A matcher of user/password pairs against the configured users. */
export function basicCredentialsMatcher(users: readonly BasicUser[]): (username: string, password: string) => boolean {
  // Compare the pair as one string so a right user with a wrong password costs the same as anything else.
  const matches = secretMatcher(users.map((u) => `${u.username}\u0000${u.password}`));
  return (username, password) => matches(`${username}\u0000${password}`);
}

export function basicCredentialsMatch(username: string, password: string, users: readonly BasicUser[]): boolean {
  return basicCredentialsMatcher(users)(username, password);
}

/** The token of an `Authorization: Bearer <token>` header, or undefined. */
export function bearerToken(header: string | undefined): string | undefined {
  if (typeof header !== 'string') return undefined;
  const match = /^Bearer[ ]+(\S+)\s*$/i.exec(header);
  return match?.[1];
}
