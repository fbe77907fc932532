/**
 * Which addresses are this machine's loopback: the admin API answers them only (src/http/admin.ts), and the
 * `ipid` admin client sends its token to them only (src/cli/api.ts). Node built-ins only: the CLI loads it.
 */
import { BlockList, isIPv4, isIPv6 } from 'node:net'

const loopback = new BlockList()
loopback.addSubnet('127.0.0.0', 8, 'ipv4')
loopback.addAddress('::1', 'ipv6')
// IPv4-mapped 127.0.0.0/8, in both spellings: `::ffff:127.0.0.1` (a socket's remote address) and
// `::ffff:7f00:1` (what the URL parser makes of `[::ffff:127.0.0.1]`).
loopback.addSubnet('::ffff:7f00:0', 104, 'ipv6')

/** True for 127.0.0.0/8, ::1 and IPv4-mapped 127.x in any spelling; false for anything else or nothing. */
export function isLoopbackAddress (address: string | undefined): boolean {
  if (address === undefined) return false
  try {
    if (isIPv4(address)) return loopback.check(address, 'ipv4')
    if (isIPv6(address)) return loopback.check(address, 'ipv6')
  } catch {}
  return false
}
