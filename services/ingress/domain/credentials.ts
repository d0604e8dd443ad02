// Shared-secret comparison that takes the same time whether the first byte or the last one differs.
// Both sides are hashed first: timingSafeEqual needs equal lengths, and comparing digests leaks
// neither the secret's content nor its length. Every configured secret is compared (no early
// return), so the answer time does not reveal which one matched.
import { createHash, timingSafeEqual } from 'node:crypto';

function digest(value: string): Buffer {
  return createHash('sha256').update(value, 'utf8').digest();
}

export function matchesAny(candidate: string, secrets: readonly string[]): boolean {
  const given = digest(candidate);
  let matched = false;
  for (const secret of secrets) matched = timingSafeEqual(given, digest(secret)) || matched;
  return matched;
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

export function basicCredentialsMatch(username: string, password: string, users: readonly BasicUser[]): boolean {
  // Compare the pair as one string so a right user with a wrong password costs the same as anything else.
  return matchesAny(`${username}\u0000${password}`, users.map((u) => `${u.username}\u0000${u.password}`));
}

/** The token of an `Authorization: Bearer <token>` header, or undefined. */
export function bearerToken(header: string | undefined): string | undefined {
  if (typeof header !== 'string') return undefined;
  const match = /^Bearer[ ]+(\S+)\s*$/i.exec(header);
  return match?.[1];
}
