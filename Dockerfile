# syntax=docker/dockerfile:1
# certkeeper's image: `node /app/dist/cli.js`, non-root, production dependencies only.
#   docker build -t REGISTRY/certkeeper:TAG . && docker push REGISTRY/certkeeper:TAG
#   docker run --rm REGISTRY/certkeeper:TAG --help
# The chart (charts/certkeeper) runs it with `run`, `serve` or `renew`.

# Build stage: compile with the dev dependencies (TypeScript, @types), then drop them.
FROM node:20-bookworm-slim AS build
WORKDIR /app
# The lock file alone first, so the dependency layer is reused until it changes.
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY scripts/build.mjs ./scripts/build.mjs
COPY src ./src
# Type-checks, then bundles dist/cli.js and its chunks (scripts/build.mjs).
RUN npm run build \
 && npm prune --omit=dev --no-audit --no-fund \
 && chmod 0755 dist/cli.js dist/kubectl-plugin.js

# Runtime stage: Node, the compiled program and its production node_modules; no sources, no
# compilers, no test tools.
FROM node:20-bookworm-slim AS runtime
# HOME: a uid without a passwd entry has no home, and node's os.homedir() then reads $HOME.
# CERTKEEPER_HTTP_PORT: non-root cannot bind port 80; the responder listens on 8080 and the
# chart's Service maps port 80 to it.
ENV NODE_ENV=production \
    HOME=/tmp \
    CERTKEEPER_HTTP_PORT=8080
WORKDIR /app
# package.json carries "type": "module", without which Node would not load dist/ as ESM.
COPY --from=build /app/package.json ./package.json
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
# `kubectl exec deploy/certkeeper -- certkeeper status` needs the command on PATH.
RUN ln -s /app/dist/cli.js /usr/local/bin/certkeeper \
 && ln -s /app/dist/kubectl-plugin.js /usr/local/bin/kubectl-certkeeper
# 65532 is the conventional "nonroot" uid (distroless); the chart's securityContext uses the same.
USER 65532:65532
EXPOSE 8080 9090
ENTRYPOINT ["node", "/app/dist/cli.js"]
CMD ["run"]
