/**
 * `ipid sign`: the owner signs with a key of its DID document, through the daemon (`POST
 * /admin/v1/identities/{name}/sign`): a JWT for a login or a statement, or a detached JWS over a file or stdin.
 * When the daemon holds the key locked (started without IPIDD_PASSPHRASE), the passphrase is asked for and sent
 * with the request; the daemon opens the key for that one signature.
 * `ipid verify <jwt>`: what `POST /1.0/verify` says of a JWT (any daemon's public API, --api may be remote).
 */
import { readFileSync } from 'node:fs'
import { InvalidArgumentError, Option } from 'commander'
import { CHANGE_TIMEOUT_MS, problemError, request } from '../api.ts'
import { EXIT_FAILED, FailedError, UsageError } from '../errors.ts'
import { fields } from '../output.ts'
import { MAX_JWS_PAYLOAD_BYTES } from '../../shared-constants.ts'
import { PURPOSES } from './keys.ts'
import { adminOf, common, examples, namedIdentity, passphraseFor, run, targetOf, withNameArgument } from './shared.ts'
import type { Command } from 'commander'
import type { AdminClient, Problem } from '../api.ts'
import type { CommonFlags } from './shared.ts'

/** `--ttl` units, in seconds. */
const TTL_UNITS: Readonly<Record<string, number>> = { s: 1, m: 60, h: 3600, d: 86_400 }
const TTL_RE = /^(\d{1,9})([smhd]?)$/
const CLAIM_RE = /^([A-Za-z_][A-Za-z0-9_.:-]{0,63})=(.*)$/s
/** The longest JWT `ipid verify` sends (the daemon's own limit is the same). */
const MAX_JWT_CHARS = 32 * 1024

interface SignFlags extends CommonFlags {
  name?: string
  aud?: string[]
  nonce?: string
  ttl?: number
  claim?: Array<[string, unknown]>
  purpose?: string
  key?: string
  jws?: string
}

interface Signed { type: 'jwt' | 'jws', jwt?: string, jws?: string, payload?: string, did: string, kid: string, versionId: string, purpose: string, iat?: number, exp?: number }

/** `5m`, `30s`, `2h`, `7d`, or plain seconds. */
export function parseTtl (value: string): number {
  const match = TTL_RE.exec(value.trim())
  if (match === null || Number(match[1]) === 0) throw new InvalidArgumentError('give a lifetime such as 30s, 5m, 2h or 7d')
  return Number(match[1]) * TTL_UNITS[match[2] === '' ? 's' : match[2]!]!
}

/** `key=value`; a value that is JSON (a number, true, an object…) is taken as such, anything else as a string. */
export function parseClaim (value: string, previous: Array<[string, unknown]> = []): Array<[string, unknown]> {
  const match = CLAIM_RE.exec(value)
  if (match === null) throw new InvalidArgumentError('give a claim as name=value, e.g. --claim scope=post')
  let parsed: unknown = match[2]
  try { parsed = JSON.parse(match[2]!) } catch {}
  return [...previous, [match[1]!, parsed]]
}

const repeat = (value: string, previous: string[] = []): string[] => [...previous, value]

export function register (program: Command): void {
  examples(withNameArgument(common(program.command('sign'), { passphrase: true }))
    .description('sign with a key of your DID document: a JWT (for a login or a statement), or a detached JWS over a file')
    .option('--aud <url>', 'the JWT\'s audience: the app\'s URL or DID (repeatable)', repeat)
    .option('--nonce <nonce>', 'the JWT\'s nonce, as the app gave it')
    .option('--ttl <lifetime>', 'how long the JWT is valid: 30s, 5m (the default), 2h, 7d', parseTtl)
    .option('--claim <name=value>', 'a further claim (repeatable); a JSON value is taken as JSON', parseClaim)
    .addOption(new Option('--purpose <purpose>', 'which keys may sign: authentication (logins; JWT default) or assertion (statements; JWS default)').choices(Object.keys(PURPOSES)))
    .option('--key <fragment>', 'sign with this key of the document (e.g. auth-2); it must hold the purpose')
    .option('--jws <file>', 'make a detached JWS over this file\'s bytes (- for stdin) instead of a JWT')
    .action(run<SignFlags>(async ({ args, flags, out }) => {
      const body = flags.jws === undefined ? jwtRequest(flags) : jwsRequest(flags)
      const admin = await adminOf(flags)
      const name = await namedIdentity(admin, args, flags, 'sign')
      const signed = await signWith(admin, name, body, flags)
      out.result(signed, () => signed.type === 'jwt' ? signed.jwt! : signed.jws!)
      out.note([
        '',
        ...fields([
          ['signed by', signed.kid],
          ['version', signed.versionId],
          ['expires', signed.exp === undefined ? undefined : new Date(signed.exp * 1000).toISOString()]
        ], out.errStyle, '')
      ].join('\n'))
    })), [
    'ipid sign --aud https://app.example --nonce 8f3a…',
    'ipid sign alice --aud https://app.example --ttl 2h --claim scope=post --json',
    'ipid sign --jws post.json > post.json.jws',
    'echo -n "hello" | ipid sign --jws - --purpose assertion'
  ], [
    'The JWT (or the detached JWS, header..signature) alone goes to stdout; who signed and until when, to stderr.',
    'Apps check a JWT with `ipid verify`, POST /1.0/verify, or ipidd/resolver\'s verifyJwt; a JWS with any JOSE library.'
  ])

  examples(common(program.command('verify'))
    .description('verify a JWT issued by a did:ipid DID: the signature, the key in the issuer\'s document, the audience, the expiry')
    .argument('<jwt>', 'the JWT (compact form)')
    .option('--aud <url>', 'the audience you expect (required when the JWT names one)')
    .addOption(new Option('--purpose <purpose>', 'the relationship the signing key must hold').choices(Object.keys(PURPOSES)))
    .action(run<CommonFlags & { aud?: string, purpose?: string }>(async ({ args, flags, out }) => {
      const jwt = args[0]!.trim()
      if (jwt.length > MAX_JWT_CHARS || !/^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/.test(jwt)) {
        throw new UsageError('not_a_jwt', 'that is not a compact JWT (header.payload.signature, base64url)')
      }
      const target = await targetOf(flags)
      const answer = await out.spin('verifying…', async () => request<VerifyAnswer>(target, '/1.0/verify', {
        method: 'POST',
        body: { jwt, ...(flags.aud === undefined ? {} : { audience: flags.aud }), ...(flags.purpose === undefined ? {} : { proofPurpose: PURPOSES[flags.purpose] }) }
      }))
      const verdict = answer.body
      if (answer.status === 200 && verdict?.verified === true) {
        out.result(verdict, style => [
          `${style.green('✓')} signed by ${style.bold(verdict.issuer ?? '')}`,
          ...fields([['key', verdict.signer], ['version', verdict.versionId], ['audience', audienceOf(verdict.payload)], ['expires', expiryOf(verdict.payload)]], style)
        ])
        return
      }
      if (answer.status === 422 && verdict !== undefined) {
        out.result(verdict, style => `${style.red('✗')} not verified: ${verdict.detail ?? verdict.reason ?? 'refused'}${verdict.reason === undefined ? '' : ` (${verdict.reason})`}`)
        return EXIT_FAILED
      }
      throw problemError(answer.status, verdict, target)
    })), [
    'ipid verify eyJhbGciOiJFZERTQSIs… --aud https://app.example',
    'ipid verify "$(ipid sign --aud https://app.example)" --aud https://app.example --json'
  ], ['Exit codes: 0 verified, 1 not verified (the reason is printed), 2 not a JWT, 3 no daemon.'])
}

interface VerifyAnswer extends Problem {
  verified?: boolean
  issuer?: string
  signer?: string
  versionId?: string
  payload?: Record<string, unknown>
}

function audienceOf (payload: Record<string, unknown> | undefined): string | undefined {
  const aud = payload?.aud
  return Array.isArray(aud) ? aud.join(', ') : typeof aud === 'string' ? aud : undefined
}

function expiryOf (payload: Record<string, unknown> | undefined): string | undefined {
  return typeof payload?.exp === 'number' ? new Date(payload.exp * 1000).toISOString() : undefined
}

function jwtRequest (flags: SignFlags): Record<string, unknown> {
  const claims = Object.fromEntries(flags.claim ?? [])
  return {
    type: 'jwt',
    ...(flags.aud === undefined ? {} : { aud: flags.aud.length === 1 ? flags.aud[0] : flags.aud }),
    ...(flags.nonce === undefined ? {} : { nonce: flags.nonce }),
    ...(flags.ttl === undefined ? {} : { lifetimeSeconds: flags.ttl }),
    ...(flags.claim === undefined ? {} : { claims }),
    ...(flags.purpose === undefined ? {} : { purpose: PURPOSES[flags.purpose] }),
    ...(flags.key === undefined ? {} : { key: flags.key })
  }
}

function jwsRequest (flags: SignFlags): Record<string, unknown> {
  const jwtOnly = (['aud', 'nonce', 'ttl', 'claim'] as const).filter(option => flags[option] !== undefined)
  if (jwtOnly.length > 0) throw new UsageError('jwt_options_with_jws', `--${jwtOnly[0]} is for a JWT: a detached JWS signs the file's bytes as they are`)
  let bytes: Buffer
  try {
    bytes = readFileSync(flags.jws === '-' ? 0 : flags.jws!)
  } catch (err) {
    throw new UsageError('unreadable_payload', `cannot read ${flags.jws === '-' ? 'stdin' : flags.jws}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`)
  }
  if (bytes.length > MAX_JWS_PAYLOAD_BYTES) throw new UsageError('too_large', `${flags.jws === '-' ? 'stdin' : flags.jws} is larger than ${MAX_JWS_PAYLOAD_BYTES} bytes: sign its hash instead`)
  return {
    type: 'jws',
    payload: bytes.toString('base64url'),
    ...(flags.purpose === undefined ? {} : { purpose: PURPOSES[flags.purpose] }),
    ...(flags.key === undefined ? {} : { key: flags.key })
  }
}

/** Signs; a key the daemon holds locked is opened with the passphrase, asked for once. */
async function signWith (admin: AdminClient, name: string, body: Record<string, unknown>, flags: SignFlags): Promise<Signed> {
  const path = `/identities/${encodeURIComponent(name)}/sign`
  let answer = await admin.send<Signed & Problem>('POST', path, body, CHANGE_TIMEOUT_MS)
  if (answer.status === 409 && answer.body?.reason === 'key_locked') {
    const passphrase = await passphraseFor(flags, `the passphrase of ${name} (the daemon holds its keys locked)`)
    answer = await admin.send<Signed & Problem>('POST', path, { ...body, passphrase }, CHANGE_TIMEOUT_MS)
  }
  if (answer.status === 200 && answer.body !== undefined) return answer.body
  if (answer.status === 409 && answer.body?.reason === 'deactivated') throw new FailedError('deactivated', `${name} is deactivated: a deactivated DID signs nothing`)
  throw problemError(answer.status, answer.body, admin.target)
}
