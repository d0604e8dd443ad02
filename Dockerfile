# One image for every Switchboard service; the command picks the service.
FROM node:20-bookworm-slim
WORKDIR /app
ENV NODE_ENV=production
COPY package.json package-lock.json ./
RUN npm install --no-audit --no-fund
COPY tsconfig.json ./
COPY schemas ./schemas
COPY services ./services
COPY scripts ./scripts
COPY infra ./infra
COPY samples ./samples
USER node
CMD ["npx", "tsx", "services/ingress/main.ts"]
