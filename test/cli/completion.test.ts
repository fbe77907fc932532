/**
 * Shell completion, generated from the command tree: the bash script is loaded into a real bash and asked
 * what it completes; the zsh script is checked by zsh's parser when zsh is installed.
 */
import { execFileSync, spawnSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import { completionScript, completionTree } from '../../src/cli/completion.ts'
import { endpointOf } from '../../src/cli/commands/services.ts'
import { buildProgram } from '../../src/cli/program.ts'

const program = buildProgram()
const bash = completionScript('bash', program)

/** What bash completes for the words typed so far (the last one being completed). */
function complete (...typed: string[]): string[] {
  const words = ['ipid', ...typed]
  const script = `${bash}\nCOMP_WORDS=(${words.map(w => `'${w}'`).join(' ')}); COMP_CWORD=${words.length - 1}; _ipid; printf '%s\\n' "\${COMPREPLY[@]}"`
  return execFileSync('bash', ['-c', script], { encoding: 'utf8' }).split('\n').filter(l => l !== '')
}

describe('completion', () => {
  it('knows every command, subcommand and option', () => {
    const tree = completionTree(program)
    expect(tree.find(n => n.path === '')?.subcommands.map(s => s.name)).toEqual(expect.arrayContaining(['daemon', 'init', 'ls', 'show', 'key', 'service', 'deactivate', 'resolve', 'history', 'pin', 'unpin', 'pins', 'auth', 'keys', 'status', 'completion']))
    expect(tree.find(n => n.path === 'key rotate')?.options).toEqual(expect.arrayContaining(['--json', '--purpose', '--update-key', '--passphrase-file', '--help']))
    expect(tree.find(n => n.path === 'key rotate')?.choices).toEqual({ '--purpose': ['authentication', 'assertion'] })
  })

  it('bash: commands, subcommands, options, choices and files', () => {
    expect(complete('ke')).toEqual(['key', 'keys'])
    expect(complete('key', 'ro')).toEqual(['rotate'])
    expect(complete('keys', '')).toEqual(['export', 'import', 'cold'])
    expect(complete('key', 'rotate', '--pu')).toEqual(['--purpose'])
    expect(complete('key', 'rotate', 'alice', '--purpose', 'a')).toEqual(['authentication', 'assertion'])
    expect(complete('resolve', '--version-')).toEqual(['--version-id', '--version-time'])
    expect(complete('completion', '')).toEqual(['bash', 'zsh'])
    expect(complete('key', 'rotate', '--update-key', '/et')).toEqual(['/etc'])
  })

  it('zsh: a script zsh parses', () => {
    const zsh = completionScript('zsh', program)
    expect(zsh).toMatch(/^#compdef ipid/)
    const check = spawnSync('zsh', ['-n'], { input: zsh })
    if (check.error !== undefined) return // zsh is not installed here
    expect(check.status, check.stderr.toString()).toBe(0)
  })
})

describe('service endpoints', () => {
  it('a URI as it is, a PeerId as { peerId }, JSON as given; anything else refused', () => {
    expect(endpointOf('https://social.example/alice/inbox')).toBe('https://social.example/alice/inbox')
    expect(endpointOf('12D3KooWD3eckifWpRn9wQpMG9R9hX3sD158z7EqHWmweQAJU5SA')).toEqual({ peerId: '12D3KooWD3eckifWpRn9wQpMG9R9hX3sD158z7EqHWmweQAJU5SA' })
    expect(endpointOf('{"origins":["https://alice.example"]}')).toEqual({ origins: ['https://alice.example'] })
    expect(() => endpointOf('alice.example')).toThrow(/neither a URI/)
    expect(() => endpointOf('{nope')).toThrow(/not valid JSON/)
  })
})

describe('the program', () => {
  it('gives every command --help with examples, and every command that runs --json', () => {
    const all: Array<{ path: string, command: ReturnType<typeof buildProgram> }> = []
    const visit = (command: ReturnType<typeof buildProgram>, path: string): void => {
      all.push({ path, command })
      for (const sub of command.commands) visit(sub, `${path} ${sub.name()}`.trim())
    }
    visit(program, '')
    const groups = all.filter(c => c.command.commands.length > 0).map(c => c.path)
    expect(groups.sort()).toEqual(['', 'key', 'keys', 'service'])
    expect(all.length - groups.length).toBeGreaterThan(18)
    for (const { path, command } of all) {
      if (command.commands.length === 0) expect(command.options.map(o => o.long), path).toContain('--json')
      let help = ''
      command.configureOutput({ writeOut: text => { help += text } })
      command.outputHelp()
      expect(help, path).toMatch(/\nExamples:\n {2}\$ /)
    }
  })

  it('keeps its copies of the daemon\'s constants in step with the daemon', async () => {
    const [admin, identities, services] = await Promise.all([
      import('../../src/http/admin.ts'), import('../../src/identity/identities.ts'), import('../../src/cli/commands/services.ts')
    ])
    expect(services.FRAGMENT_RE.source).toBe(admin.SERVICE_FRAGMENT_RE.source)
    expect(services.PEER_SERVICE_TYPE).toBe(identities.PEER_SERVICE_TYPE)
  })

  it('shares one definition of the constants the daemon and the CLI both use (src/shared-constants.ts)', async () => {
    const [shared, keystore, adminToken, identities] = await Promise.all([
      import('../../src/shared-constants.ts'), import('../../src/identity/keystore.ts'), import('../../src/http/admin-token.ts'), import('../../src/identity/identities.ts')
    ])
    expect([keystore.MIN_PASSPHRASE_LENGTH, keystore.MAX_PASSPHRASE_LENGTH, keystore.MIN_SCRYPT_LOG_N, keystore.MAX_SCRYPT_LOG_N])
      .toEqual([shared.MIN_PASSPHRASE_LENGTH, shared.MAX_PASSPHRASE_LENGTH, shared.MIN_SCRYPT_LOG_N, shared.MAX_SCRYPT_LOG_N])
    expect([adminToken.ADMIN_TOKEN_FILE, adminToken.ADMIN_URL_FILE]).toEqual([shared.ADMIN_TOKEN_FILE, shared.ADMIN_URL_FILE])
    expect(identities.IDENTITY_NAME_RE).toBe(shared.IDENTITY_NAME_RE)
    // The CLI finds the data directory the daemon uses: flag, else IPIDD_DATA (unless empty), else ~/.ipidd.
    const { loadConfig } = await import('../../src/config.ts')
    for (const env of [{ HOME: '/home/someone' }, { HOME: '/home/someone', IPIDD_DATA: '' }, { HOME: '/home/someone', IPIDD_DATA: 'relative/data' }]) {
      expect(shared.dataDirOf(undefined, env), JSON.stringify(env)).toBe(loadConfig({ env }).dataDir)
    }
    // Leaves the CLI loads at start-up: Node built-ins only, never the keystore, zod or libp2p.
    for (const file of ['../../src/shared-constants.ts', '../../src/http/loopback.ts']) {
      const imports = [...readFileSync(new URL(file, import.meta.url), 'utf8').matchAll(/^import .* from '([^']+)'/gm)].map(m => m[1])
      expect(imports.filter(i => i?.startsWith('node:') !== true), file).toEqual([])
    }
  })
})
