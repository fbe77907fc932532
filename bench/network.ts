/**
 * Resolution over the network, between two embedded nodes on 127.0.0.1:
 * - cold resolve (the resolver has never seen the DID): p50/p99, against a bare DHT record fetch for a
 *   fresh name in the same run (the floor a resolve cannot beat);
 * - publish-to-visible over IPNS pubsub: from the owner's putRecord to a watching resolver answering with the
 *   new version, against raw pubsub delivery of a record in the same run.
 */
import { performance } from 'node:perf_hooks'
import { createFirstVersion, createNextVersion } from '../src/did/version-node.ts'
import { parseDid } from '../src/did/identifier.ts'
import { createRecord } from '../src/ipns/record.ts'
import { Resolver } from '../src/resolver/resolver.ts'
import { latencyRow } from './harness.ts'
import { documentWithAuthKey, multikeyOf, testIdentity } from '../test/helpers/fixtures.ts'
import { publishVersion, startMesh, stopAll } from '../test/helpers/network.ts'

const SAMPLES = 40


export async function networkBenchmarks (): Promise<string> {
  const [a, c] = await startMesh(2)
  const owner = a!
  const reader = c!
  const resolver = new Resolver({ backend: reader, deadlineMs: 10_000 })
  try {
    const rawFetch: number[] = []
    const coldResolve: number[] = []
    const rawPubsub: number[] = []
    const visible: number[] = []
    for (let i = 0; i < SAMPLES; i++) {
      // Baseline: fetch a fresh name's record over the DHT, nothing else.
      const raw = await testIdentity(1 + (i * 7) % 200)
      const rawVersion = await createFirstVersion({ document: documentWithAuthKey(raw.did, raw.auth[0]!), updateKeys: [multikeyOf(raw.update[0]!)] }, raw.root, Date.now())
      const rawRecord = await createRecord({ privateKey: raw.root, value: rawVersion.cid, sequence: BigInt(1000 + i), validUntilMs: Date.now() + 3_600_000 })
      await owner.putRecord(parseDid(raw.did), rawRecord.bytes)
      let t = performance.now()
      await reader.getRecord(parseDid(raw.did), { signal: AbortSignal.timeout(10_000) })
      rawFetch.push(performance.now() - t)

      // Cold resolve of a DID the resolver has never seen: record, block, chain, document.
      const id = await testIdentity(10_000 + i)
      const v1 = await createFirstVersion({ document: documentWithAuthKey(id.did, id.auth[0]!), updateKeys: [multikeyOf(id.update[0]!)] }, id.root, Date.now())
      await publishVersion(owner, id.root, v1)
      t = performance.now()
      const result = await resolver.resolve(id.did)
      coldResolve.push(performance.now() - t)
      if (result.didDocumentMetadata.versionId !== v1.cid.toString()) throw new Error('cold resolve returned the wrong version')

      // Baseline: raw pubsub delivery of a record to a subscriber.
      const name = parseDid(id.did)
      const probe = await createRecord({ privateKey: id.root, value: v1.cid, sequence: 500n, validUntilMs: Date.now() + 3_600_000 })
      let delivered: () => void = () => {}
      const arrived = new Promise<void>(resolve => { delivered = resolve })
      const stop = reader.subscribe(name, bytes => { if (Buffer.from(bytes).equals(Buffer.from(probe.bytes))) delivered() })
      t = performance.now()
      await owner.putRecord(name, probe.bytes)
      await arrived
      rawPubsub.push(performance.now() - t)
      stop()

      // Publish-to-visible: the owner publishes version 2; the watching resolver answers with it.
      const v2 = await createNextVersion(v1, { document: documentWithAuthKey(id.did, id.auth[1]!), updateKeys: [multikeyOf(id.update[0]!)] }, id.update[0]!, Date.now())
      await owner.putBlock(v2.cid, v2.bytes)
      const record = await createRecord({ privateKey: id.root, value: v2.cid, sequence: 501n, validUntilMs: Date.now() + 3_600_000 })
      t = performance.now()
      await owner.putRecord(name, record.bytes)
      for (;;) {
        if ((await resolver.resolve(id.did)).didDocumentMetadata.versionId === v2.cid.toString()) break
        await new Promise(resolve => setTimeout(resolve, 1))
        if (performance.now() - t > 10_000) throw new Error('version 2 never became visible')
      }
      visible.push(performance.now() - t)
    }
    return [
      '## Network resolution (issue 3): two embedded nodes on 127.0.0.1',
      '',
      `${SAMPLES} samples each. Ratio: p50 of the operation over p50 of its baseline, measured in the same run.`,
      '',
      '| operation | samples | p50 ms | p99 ms | ratio to baseline |',
      '| --- | ---: | ---: | ---: | ---: |',
      latencyRow('baseline: DHT record fetch of a fresh name', rawFetch),
      latencyRow('cold resolve (record + block + chain + document)', coldResolve, rawFetch),
      latencyRow('baseline: raw IPNS pubsub delivery', rawPubsub),
      latencyRow('publish-to-visible: putRecord → resolver answers the new version', visible, rawPubsub),
      ''
    ].join('\n')
  } finally {
    resolver.stop()
    await stopAll([owner, reader])
  }
}
