/**
 * One DIDAuth stream as a sequence of messages: length-prefixed frames (unsigned varint length, then the
 * payload; `lpStream` from @libp2p/utils) of at most MAX_MESSAGE_BYTES, each read and written under a deadline.
 * Every failure becomes a DidAuthError with the reason spec/didauth.md §5 gives it.
 */
import { lpStream } from '@libp2p/utils'
import { DidAuthError } from './errors.ts'
import { MAX_MESSAGE_BYTES, decodeMessage, encodeMessage } from './messages.ts'
import type { DidAuthMessage, MessageOf, MessageType } from './messages.ts'
import type { LengthPrefixedStream } from '@libp2p/utils'
import type { Stream } from '@libp2p/interface'

/** How long each side waits for the next message (and for a write to drain) before it gives up: `timeout`. */
export const STEP_TIMEOUT_MS = 10_000
/**
 * Bytes buffered from the peer beyond what was read. A frame is at most MAX_MESSAGE_BYTES plus its 2-byte
 * length; a peer that sends more than two frames ahead is not speaking the protocol.
 */
export const MAX_READ_BUFFER_BYTES = 2 * (MAX_MESSAGE_BYTES + 2)
/** How long a refusal (`outcome`) may take to go out before the stream is aborted anyway. */
export const REFUSAL_WRITE_TIMEOUT_MS = 1_000

export interface FramedStreamOptions {
  stepTimeoutMs?: number
  /** Aborts every read and write (the service stopping): `stopped`. */
  signal?: AbortSignal
}

export class FramedStream {
  readonly stream: Stream
  private readonly lp: LengthPrefixedStream<Stream>
  private readonly stepTimeoutMs: number
  private readonly signal?: AbortSignal
  /** Bytes the peer sent and bytes that whole frames accounted for: more received means a frame was cut. */
  private received = 0
  private consumed = 0

  constructor (stream: Stream, options: FramedStreamOptions = {}) {
    this.stream = stream
    this.stepTimeoutMs = options.stepTimeoutMs ?? STEP_TIMEOUT_MS
    if (options.signal !== undefined) this.signal = options.signal
    stream.addEventListener('message', event => { this.received += event.data.byteLength })
    this.lp = lpStream(stream, { maxDataLength: MAX_MESSAGE_BYTES, maxBufferSize: MAX_READ_BUFFER_BYTES })
  }

  /** Reads the next message, which must be one of `expected`. */
  async read<T extends MessageType> (expected: readonly T[]): Promise<MessageOf<T>> {
    const deadline = AbortSignal.timeout(this.stepTimeoutMs)
    let payload: Uint8Array
    try {
      const frame = await this.lp.read({ signal: this.combined(deadline) })
      payload = frame.subarray()
    } catch (err) {
      throw this.failure(err, deadline, 'reading')
    }
    this.consumed += varintLength(payload.byteLength) + payload.byteLength
    return decodeMessage(payload, expected)
  }

  async write (message: DidAuthMessage, timeoutMs = this.stepTimeoutMs): Promise<void> {
    const bytes = encodeMessage(message)
    const deadline = AbortSignal.timeout(timeoutMs)
    try {
      await this.lp.write(bytes, { signal: this.combined(deadline) })
    } catch (err) {
      throw this.failure(err, deadline, 'writing')
    }
  }

  /** Sends raw bytes as they are (tests and tools that speak the protocol badly on purpose). */
  sendRaw (bytes: Uint8Array): void {
    this.stream.send(bytes)
  }

  /** Tells the peer why, if the stream can still carry it, then aborts the stream. Never throws. */
  async refuse (reason: string): Promise<void> {
    try {
      if (this.stream.status === 'open' && this.stream.writeStatus === 'writable') {
        await this.write({ type: 'outcome', ok: false, reason }, REFUSAL_WRITE_TIMEOUT_MS)
        await this.stream.close({ signal: AbortSignal.timeout(REFUSAL_WRITE_TIMEOUT_MS) })
        return
      }
    } catch {}
    this.abort(reason)
  }

  /** Closes our end gracefully (after the last message); aborts if that does not finish in time. */
  async close (): Promise<void> {
    try {
      await this.stream.close({ signal: AbortSignal.timeout(REFUSAL_WRITE_TIMEOUT_MS) })
    } catch {
      this.abort('stream_closed')
    }
  }

  abort (reason: string): void {
    if (this.stream.status === 'open' || this.stream.status === 'closing') this.stream.abort(new DidAuthError(reason, `handshake ended: ${reason}`))
  }

  private combined (deadline: AbortSignal): AbortSignal {
    return this.signal === undefined ? deadline : AbortSignal.any([deadline, this.signal])
  }

  private failure (err: unknown, deadline: AbortSignal, doing: string): DidAuthError {
    if (err instanceof DidAuthError) return err
    if (this.signal?.aborted === true) return new DidAuthError('stopped', 'the DIDAuth service is stopping')
    if (deadline.aborted) return new DidAuthError('timeout', `no progress ${doing} within ${this.stepTimeoutMs} ms`)
    const name = (err as Error | undefined)?.name
    switch (name) {
      case 'InvalidDataLengthError':
      case 'InvalidDataLengthLengthError':
      case 'StreamBufferError':
        return new DidAuthError('oversized_message', `a frame larger than ${MAX_MESSAGE_BYTES} bytes`)
      case 'InvalidMessageLengthError':
        return new DidAuthError('bad_message', 'a frame with an invalid length')
      case 'UnexpectedEOFError':
        return this.received > this.consumed
          ? new DidAuthError('truncated_message', 'the stream ended in the middle of a frame')
          : new DidAuthError('stream_closed', 'the peer closed the stream')
      default:
        return new DidAuthError('stream_closed', `the stream failed while ${doing}`)
    }
  }
}

/** Bytes of the unsigned varint that encodes `n`. */
function varintLength (n: number): number {
  let length = 1
  while (n >= 0x80) {
    n = Math.floor(n / 0x80)
    length++
  }
  return length
}
