# The Meshwork image: `docker build -t meshwork:0.1.0 .`
#   docker run --rm meshwork:0.1.0 --help
#   docker run --rm -v $PWD/linkerd.yaml:/config/linkerd.yaml -p 4140:4140 -p 9990:9990 \
#     meshwork:0.1.0 linkerd /config/linkerd.yaml
# (servers and admin listen on 127.0.0.1 unless the config says `ip: 0.0.0.0`, as in Linkerd).
# deploy/kubernetes/ runs it as a DaemonSet, a sidecar and namerd.

# Build: install with dev dependencies (TypeScript), compile to dist/ (npm's `prepare`), then
# drop the dev dependencies.
FROM node:20-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json tsconfig.json ./
COPY bin ./bin
COPY src ./src
COPY proto ./proto
COPY demo ./demo
RUN npm ci && npm prune --omit=dev

# Run: the compiled CLI, its production dependencies, the dashboard assets (src/**/assets),
# the gRPC protos and the demo's configs (`meshwork demo`), as the unprivileged `node` user.
FROM node:20-bookworm-slim
ENV NODE_ENV=production
WORKDIR /app
COPY --from=build /app /app
USER node
EXPOSE 4140 4141 9990 4180 4321 9991
ENTRYPOINT ["/app/bin/meshwork.js"]
CMD ["--help"]
