/** Refusals of a signing request: the caller's input or the key's state, each with a stable `reason`. */
import { OperationError } from '../errors.ts'

export class SignError extends OperationError {
  override readonly name = 'SignError'
}
