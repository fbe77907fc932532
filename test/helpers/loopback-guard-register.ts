/** `node --import` entry of the loopback guard (test/helpers/loopback-guard.ts): installs it in this process. */
import { installLoopbackGuard } from './loopback-guard.ts'

installLoopbackGuard()
