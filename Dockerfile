# One image for every Switchboard service; the command picks the service.
FROM node:22-bookworm-slim
WORKDIR /app
ENV NODE_ENV=production
COPY package.json package-lock.json ./
# npm ci: the lock file is the truth; NODE_ENV=production leaves the dev dependencies out (tsx is a runtime one).
RUN npm ci --no-audit --no-fund
COPY tsconfig.json ./
COPY schemas ./schemas
COPY services ./services
COPY scripts ./scripts
COPY infra ./infra
COPY samples ./samples
USER node
CMD ["npx", "tsx", "services/ingress/main.ts"]
