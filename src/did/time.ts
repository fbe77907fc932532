/**
 * Times in version nodes and resolution metadata: UTC, whole seconds, `YYYY-MM-DDTHH:MM:SSZ` (the XML
 * Schema dateTime form DID Core requires, without fractions).
 */
const WHOLE_SECONDS_UTC_RE = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$/

/** A clock: milliseconds since the epoch. Injected wherever time matters, so tests control it. */
export type Clock = () => number
export const systemClock: Clock = () => Date.now()

export function formatTime (ms: number): string {
  return new Date(Math.floor(ms / 1000) * 1000).toISOString().replace('.000Z', 'Z')
}

/** Parses a whole-second UTC time; returns undefined if the text is not exactly that form or not a real date. */
export function parseTime (text: unknown): number | undefined {
  if (typeof text !== 'string' || !WHOLE_SECONDS_UTC_RE.test(text)) {
    return undefined
  }
  const ms = Date.parse(text)
  return Number.isNaN(ms) || formatTime(ms) !== text ? undefined : ms
}
