/**
 * Checks real HTTP exchanges against an OpenAPI 3.1 document: the operation (path template + method), the
 * response (status), the media type (Content-Type), the body (JSON Schema 2020-12 with Ajv, `$ref`s resolved
 * against the whole document) and the documented response headers. Records what was exercised, so a test can
 * assert that every operation, and every documented status, was seen.
 */
import { Ajv2020 } from 'ajv/dist/2020.js'
import * as ajvFormats from 'ajv-formats'
import type { ValidateFunction } from 'ajv/dist/2020.js'

type Json = Record<string, unknown>

const METHODS = ['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace'] as const
/** Where the document is registered in Ajv: every `#/components/...` reference is resolved against it. */
const DOCUMENT_ID = 'https://ipidd.invalid/openapi.json'

export interface Exchange {
  method: string
  /** The URL requested (only its path is matched against the templates). */
  url: string
  status: number
  headers: Headers
  body: Uint8Array
}

export interface Operation { method: string, template: string }

interface MediaType { essence: string, params: Map<string, string> }

function parseMediaType (text: string): MediaType {
  const [essence = '', ...rest] = text.split(';')
  const params = new Map<string, string>()
  for (const part of rest) {
    const eq = part.indexOf('=')
    if (eq === -1) continue
    let value = part.slice(eq + 1).trim()
    if (value.startsWith('"') && value.endsWith('"')) value = value.slice(1, -1)
    params.set(part.slice(0, eq).trim().toLowerCase(), value)
  }
  return { essence: essence.trim().toLowerCase(), params }
}

/** Whether a documented media type covers an actual one: same essence and parameters, `charset` aside. */
function covers (documented: MediaType, actual: MediaType): boolean {
  if (documented.essence !== actual.essence) return false
  for (const [name, value] of documented.params) if (actual.params.get(name) !== value) return false
  for (const name of actual.params.keys()) if (name !== 'charset' && !documented.params.has(name)) return false
  return true
}

/** `#/components/...` → absolute, so that a schema compiled on its own still resolves into the document. */
function absoluteRefs (value: unknown): unknown {
  if (Array.isArray(value)) return value.map(absoluteRefs)
  if (typeof value !== 'object' || value === null) return value
  return Object.fromEntries(Object.entries(value).map(([key, v]) => [key, key === '$ref' && typeof v === 'string' && v.startsWith('#') ? DOCUMENT_ID + v : absoluteRefs(v)]))
}

export class OpenApiChecker {
  private readonly doc: Json
  private readonly ajv: Ajv2020
  private readonly validators = new Map<unknown, ValidateFunction>()
  private readonly templates: Array<{ template: string, re: RegExp, params: number }>
  /** `METHOD template` of every operation exercised. */
  readonly seenOperations = new Set<string>()
  /** `METHOD template status` of every response seen. */
  readonly seenStatuses = new Set<string>()

  constructor (doc: Json) {
    this.doc = doc
    this.ajv = new Ajv2020({ strict: false, allErrors: true })
    const addFormats = ajvFormats.default as unknown as (ajv: Ajv2020) => Ajv2020
    addFormats(this.ajv)
    this.ajv.addSchema(doc, DOCUMENT_ID)
    this.templates = Object.keys(this.paths()).map(template => ({
      template,
      re: new RegExp(`^${template.split(/\{[^}]+\}/).map(part => part.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')).join('[^/]+')}$`),
      params: (template.match(/\{/g) ?? []).length
    }))
  }

  /** Every operation of the document, as `METHOD template`. */
  operations (): Operation[] {
    return Object.entries(this.paths()).flatMap(([template, item]) =>
      METHODS.filter(m => item[m] !== undefined).map(m => ({ method: m.toUpperCase(), template })))
  }

  /** Every documented response status of every operation, as `METHOD template status`. */
  documentedStatuses (): string[] {
    return this.operations().flatMap(({ method, template }) =>
      Object.keys(this.operation(method, template).responses as Json).map(status => `${method} ${template} ${status}`))
  }

  /** The operation of a request, by path template (the most literal one that has the method). */
  match (method: string, url: string): Operation {
    const path = new URL(url).pathname
    const candidates = this.templates
      .filter(t => t.re.test(path) && this.paths()[t.template]?.[method.toLowerCase()] !== undefined)
      .sort((x, y) => x.params - y.params)
    const found = candidates[0]
    if (found === undefined) throw new Error(`undocumented operation: ${method} ${path}`)
    return { method: method.toUpperCase(), template: found.template }
  }

  /**
   * Checks one exchange; throws naming what does not match the document. Returns the parsed JSON body (when
   * the media type is JSON) for the test's own assertions.
   */
  check (exchange: Exchange): unknown {
    const { method, template } = this.match(exchange.method, exchange.url)
    const where = `${method} ${template} → ${exchange.status}`
    this.seenOperations.add(`${method} ${template}`)
    const responses = this.operation(method, template).responses as Json
    const documented = responses[String(exchange.status)]
    if (documented === undefined) throw new Error(`${where}: status not documented (${new TextDecoder().decode(exchange.body).slice(0, 300)})`)
    this.seenStatuses.add(`${method} ${template} ${exchange.status}`)
    const response = this.deref(documented)

    for (const [name, rawHeader] of Object.entries((response.headers ?? {}) as Json)) {
      if (name.toLowerCase() === 'content-type') continue
      const header = this.deref(rawHeader)
      const value = exchange.headers.get(name)
      if (value === null) {
        if (header.required === true) throw new Error(`${where}: header ${name} is documented as required but missing`)
        continue
      }
      this.validate(header.schema, value, `${where}: header ${name}`)
    }

    const content = response.content as Json | undefined
    const contentType = exchange.headers.get('content-type')
    const hasBody = exchange.body.byteLength > 0
    if (content === undefined) {
      if (hasBody) throw new Error(`${where}: a body was sent where none is documented`)
      return undefined
    }
    if (contentType === null) throw new Error(`${where}: no Content-Type, expected one of ${Object.keys(content).join(', ')}`)
    const actual = parseMediaType(contentType)
    const keys = Object.keys(content)
      .filter(key => covers(parseMediaType(key), actual))
      .sort((x, y) => parseMediaType(y).params.size - parseMediaType(x).params.size)
    const key = keys[0]
    if (key === undefined) throw new Error(`${where}: Content-Type ${contentType} is not documented (documented: ${Object.keys(content).join(', ')})`)
    const schema = this.deref(content[key]).schema
    if (method === 'HEAD') {
      if (hasBody) throw new Error(`${where}: HEAD answered with a body`)
      return undefined
    }
    if (!hasBody) throw new Error(`${where}: empty body for ${key}`)
    if (actual.essence === 'application/vnd.ipfs.ipns-record') return undefined
    const text = new TextDecoder('utf-8', { fatal: true }).decode(exchange.body)
    if (actual.essence.startsWith('text/')) {
      this.validate(schema, text, `${where} ${key}`)
      return text
    }
    let json: unknown
    try {
      json = JSON.parse(text)
    } catch {
      throw new Error(`${where}: ${key} body is not JSON: ${text.slice(0, 200)}`)
    }
    this.validate(schema, json, `${where} ${key}`)
    return json
  }

  private validate (schema: unknown, value: unknown, where: string): void {
    if (schema === undefined) return
    let validator = this.validators.get(schema)
    if (validator === undefined) {
      validator = this.ajv.compile(absoluteRefs(schema) as Json)
      this.validators.set(schema, validator)
    }
    if (!validator(value)) {
      const errors = (validator.errors ?? []).slice(0, 8).map(e => `${e.instancePath || '/'} ${e.message ?? ''} ${JSON.stringify(e.params)}`).join('; ')
      throw new Error(`${where}: does not match the schema: ${errors}\nvalue: ${JSON.stringify(value).slice(0, 1500)}`)
    }
  }

  private paths (): Record<string, Record<string, unknown>> {
    return this.doc.paths as Record<string, Record<string, unknown>>
  }

  private operation (method: string, template: string): Json {
    return this.paths()[template]![method.toLowerCase()] as Json
  }

  /** An object, following a `$ref` (`#/…` into the document) if it is one. */
  private deref (value: unknown): Json {
    let current = value as Json
    for (let hops = 0; typeof current.$ref === 'string'; hops++) {
      if (hops > 10) throw new Error(`reference loop at ${current.$ref}`)
      const pointer = (current.$ref).replace(/^#\//, '').split('/').map(p => decodeURIComponent(p).replace(/~1/g, '/').replace(/~0/g, '~'))
      current = pointer.reduce<unknown>((node, part) => (node as Json | undefined)?.[part], this.doc) as Json
      if (current === undefined) throw new Error(`unresolvable reference ${String(value)}`)
    }
    return current
  }
}
