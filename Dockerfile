# ipidd: did:ipid daemon. Multi-stage: build with dev dependencies, run with production ones only.

FROM node:24-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npm run build

FROM node:24-slim AS runtime
ENV NODE_ENV=production \
    IPIDD_DATA=/data \
    IPIDD_HTTP_HOST=0.0.0.0 \
    IPIDD_HTTP_PORT=8080
WORKDIR /app
COPY package.json package-lock.json ./
# The embedded node's Helia packages are optional peer dependencies of ipidd (so that apps installing it for its
# resolver do without them): the daemon needs them. Installed as dependencies at the versions of the lock, without
# the peers they pull (react-native, through @libp2p/webrtc).
RUN node -e "const fs = require('fs'); const p = JSON.parse(fs.readFileSync('package.json')); \
      for (const n of Object.keys(p.peerDependencies)) { p.dependencies[n] = p.peerDependencies[n]; delete p.devDependencies[n] } \
      delete p.peerDependencies; delete p.peerDependenciesMeta; fs.writeFileSync('package.json', JSON.stringify(p, null, 2))" \
 && npm install --omit=dev --omit=peer --no-audit --no-fund && npm cache clean --force
COPY --from=build /app/dist ./dist
COPY spec ./spec
RUN mkdir -p /data && chown node:node /data
USER node
VOLUME ["/data"]
# HTTP API (resolver, health) and libp2p (embedded IPFS node: DHT, pubsub, bitswap).
EXPOSE 8080 4001/tcp
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:' + (process.env.IPIDD_HTTP_PORT || 8080) + '/healthz').then(r => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
ENTRYPOINT ["node", "dist/cli/main.js"]
CMD ["daemon"]
