// JWT helpers for the SAP source tests: a tiny local JWKS server with a real RSA key, tokens
// signed with it, with a shared HS256 secret or with a stranger's key, and unsigned (alg none) ones.
import { createServer, type Server } from 'node:http';
import { SignJWT, exportJWK, generateKeyPair, type JWK } from 'jose';

type PrivateKey = Awaited<ReturnType<typeof generateKeyPair>>['privateKey'];

export interface TokenOptions {
  claims?: Record<string, unknown>;
  /** Seconds since the epoch; null leaves exp out. Default: in ten minutes. */
  exp?: number | null;
  nbf?: number;
  issuer?: string;
  audience?: string;
  kid?: string;
}

export const DEFAULT_TENANT = { consumerTenant: 'tenant-internal-1', externalTenant: 'tenant-external-1' };

async function sign(key: PrivateKey | Uint8Array, alg: string, opts: TokenOptions): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  let jwt = new SignJWT(opts.claims ?? { tenant: DEFAULT_TENANT }).setProtectedHeader({ alg, ...(opts.kid ? { kid: opts.kid } : {}) }).setIssuedAt(now);
  if (opts.exp !== null) jwt = jwt.setExpirationTime(opts.exp ?? now + 600);
  if (opts.nbf !== undefined) jwt = jwt.setNotBefore(opts.nbf);
  if (opts.issuer) jwt = jwt.setIssuer(opts.issuer);
  if (opts.audience) jwt = jwt.setAudience(opts.audience);
  return jwt.sign(key);
}

export function hs256Token(secret: string, opts: TokenOptions = {}): Promise<string> {
  return sign(new TextEncoder().encode(secret), 'HS256', opts);
}

/** An unsigned token: `{"alg":"none"}` header, the claims, an empty signature. */
export function unsignedToken(claims: Record<string, unknown> = { tenant: DEFAULT_TENANT, exp: Math.floor(Date.now() / 1000) + 600 }): string {
  const b64 = (o: unknown): string => Buffer.from(JSON.stringify(o)).toString('base64url');
  return `${b64({ alg: 'none', typ: 'JWT' })}.${b64(claims)}.`;
}

export interface JwksServer {
  url: string;
  /** Signs with the key the JWKS publishes. */
  rs256Token(opts?: TokenOptions): Promise<string>;
  /** Signs with a key the JWKS does not publish (same kid, so only the signature is wrong). */
  strangerToken(opts?: TokenOptions): Promise<string>;
  close(): Promise<void>;
}

export async function startJwksServer(): Promise<JwksServer> {
  const { privateKey, publicKey } = await generateKeyPair('RS256', { extractable: true });
  const stranger = (await generateKeyPair('RS256')).privateKey;
  const kid = 'test-key-1';
  const jwk: JWK = { ...(await exportJWK(publicKey)), alg: 'RS256', use: 'sig', kid };
  const server: Server = createServer((req, res) => {
    if (req.url !== '/jwks') {
      res.statusCode = 404;
      res.end();
      return;
    }
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify({ keys: [jwk] }));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  return {
    url: `http://127.0.0.1:${port}/jwks`,
    rs256Token: (opts = {}) => sign(privateKey, 'RS256', { kid, ...opts }),
    strangerToken: (opts = {}) => sign(stranger, 'RS256', { kid, ...opts }),
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}
