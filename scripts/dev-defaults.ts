// Embedded defaults for a newcomer's machine. Any of them can be overridden in the environment or .env.
export const DEV_DEFAULTS: Record<string, string> = {
  NSPS_API_TOKENS: 'dev-nsps-token',
  ONCE_BASIC_AUTH_USERS: 'streamer:dev-streamer-password',
  SAP_JWT_HS256_SECRET: 'dev-sap-shared-secret-change-me-0123456789',
  DATA_DIR: './data',
};

export const SERVICES = [
  { name: 'ingress', entry: 'services/ingress/main.ts', port: 8080 },
  { name: 'provisioning', entry: 'services/provisioning/main.ts', port: 9101 },
  { name: 'sheet-export', entry: 'services/sheet-export/main.ts', port: 9102 },
  { name: 'scc-inventory', entry: 'services/scc-inventory/main.ts', port: 8090 },
  { name: 'trail', entry: 'services/trail/main.ts', port: 8095 },
] as const;

