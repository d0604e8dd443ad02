// Shared-secret comparison that takes the same time whether the first byte or the last one differs.
// Both sides are hashed first: timingSafeEqual needs equal lengths, and comparing digests leaks
// neither the secret's content nor its length. Every configured secret is compared (no early
// return), so the answer time does not reveal which one matched.
import { createHash, timingSafeEqual } from 'node:crypto';

function digest(value: string): Buffer {
  return createHash('sha256').update(value, 'utf8').digest();
}

/** A matcher over fixed secrets: their digests are computed once, the candidate's on every call. */
export function secretMatcher(secrets: readonly string[]): (candidate: string) => boolean {
  const digests = secrets.map(digest);
  return (candidate) => {
    const given = digest(candidate);
    let matched = false;
    for (const d of digests) matched = timingSafeEqual(given, d) || matched;
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
