/**
 * A daemon in its own process, for the e2e tests: `node owner-process.ts <dataDir> <bootstrap,…>`. It starts,
 * creates the identity `alice`, prints one JSON line ({ did, versionId, peerId, multiaddrs }), then executes
 * commands read from stdin, one per line — `rotate` (the authentication key), `jwt` (a token signed with the
 * current authentication key) — printing one JSON line per result. The test kills it.
 */
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { createJWT, EdDSASigner } from 'did-jwt'
import { loadConfig } from '../../src/config.ts'
import { startDaemon } from '../../src/daemon.ts'
import { Identities } from '../../src/identity/identities.ts'
import { MIN_SCRYPT_LOG_N, openKey, readKeyFile } from '../../src/identity/keystore.ts'
import { createLogger } from '../../src/log.ts'

const [dataDir = '', bootstrap = ''] = process.argv.slice(2)
const PASS = 'owner process passphrase'
const config = loadConfig({ env: { HOME: dataDir }, flags: { dataDir, http: { port: 0 }, ipfs: { listen: ['/ip4/127.0.0.1/tcp/0'], bootstrap: bootstrap.split(',').filter(Boolean) } } })
const daemon = await startDaemon(config, { logger: createLogger('silent') })
// The daemon's own Identities, but with the cheapest key derivation: KDF cost is not what this test measures.
const identities = new Identities({ dataDir, backend: daemon.backend, seal: { logN: MIN_SCRYPT_LOG_N } })
for (const address of config.ipfs.bootstrap) await daemon.node!.dial(address)
const created = await identities.create({ name: 'alice', passphrase: PASS })
process.stdout.write(JSON.stringify({ ...created, peerId: daemon.node!.peerId.toString(), multiaddrs: daemon.node!.multiaddrs() }) + '\n')
for await (const line of createInterface({ input: process.stdin })) {
  if (line.trim() === 'rotate') {
    const result = await identities.change('alice', PASS, { kind: 'rotate-key', purpose: 'authentication' })
    process.stdout.write(JSON.stringify(result) + '\n')
  }
  if (line.trim() === 'jwt') {
    const file = identities.get('alice')
    const auth = file.keys.auth.find(k => k.purposes.includes('authentication'))!
    const key = await openKey(readKeyFile(join(dataDir, 'identities', 'alice', 'keys', auth.file)), PASS)
    const jwt = await createJWT({ aud: 'did:example:social-app' }, { issuer: file.did, signer: EdDSASigner(key.raw) }, { alg: 'EdDSA' })
    process.stdout.write(JSON.stringify({ jwt }) + '\n')
  }
}
