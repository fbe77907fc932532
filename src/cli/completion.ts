/**
 * Shell completion: `ipid completion bash|zsh` prints a script generated from the command tree itself, so it
 * never lags behind the commands. It completes commands and subcommands, each command's options, the choices of
 * options that have them (`--purpose`), and file names after options that take a file.
 *
 *   bash:  source <(ipid completion bash)      (or save it to /etc/bash_completion.d/ipid)
 *   zsh:   source <(ipid completion zsh)       (or save it as _ipid in a directory of $fpath)
 */
import type { Command, Option } from 'commander'

export const SHELLS = ['bash', 'zsh'] as const
export type Shell = typeof SHELLS[number]

/** One node of the command tree: the words that lead to it, its subcommands and its options. */
export interface CompletionNode {
  path: string
  subcommands: Array<{ name: string, description: string }>
  options: string[]
  /** Options followed by a file name, and options with fixed choices. */
  fileOptions: string[]
  choices: Record<string, string[]>
}

/** Options whose value is a path. */
const FILE_OPTION_RE = /<(file|dir)>/

export function completionTree (program: Command): CompletionNode[] {
  const nodes: CompletionNode[] = []
  const visit = (command: Command, path: string): void => {
    const options: readonly Option[] = command.options
    const subcommands = command.commands.filter(c => !(c as unknown as { _hidden?: boolean })._hidden)
    nodes.push({
      path,
      subcommands: subcommands.map(c => ({ name: c.name(), description: c.description() })),
      options: [...options.map(o => o.long ?? o.short ?? '').filter(o => o !== ''), '--help'],
      fileOptions: options.filter(o => FILE_OPTION_RE.test(o.flags)).map(o => o.long ?? ''),
      choices: Object.fromEntries(options.filter(o => o.argChoices !== undefined).map(o => [o.long ?? '', o.argChoices ?? []]))
    })
    for (const sub of subcommands) visit(sub, path === '' ? sub.name() : `${path} ${sub.name()}`)
  }
  visit(program, '')
  return nodes
}

const quote = (text: string): string => `'${text.replace(/'/g, `'\\''`)}'`

export function completionScript (shell: Shell, program: Command): string {
  const nodes = completionTree(program)
  const name = program.name()
  const fn = `_${name.replace(/[^A-Za-z0-9_]/g, '_')}`
  const subsCase = nodes.map(n => `    ${quote(n.path)}) echo ${quote(n.subcommands.map(s => s.name).join(' '))} ;;`).join('\n')
  const optsCase = nodes.map(n => `    ${quote(n.path)}) echo ${quote(n.options.join(' '))} ;;`).join('\n')
  const fileOptions = [...new Set(nodes.flatMap(n => n.fileOptions))]
  const choices = Object.entries(Object.assign({}, ...nodes.map(n => n.choices)) as Record<string, string[]>)
  const choiceCase = choices.map(([option, values]) => `    ${option}) echo ${quote(values.join(' '))} ;;`).join('\n')
  const shared = `${fn}_subs() {
  case "$1" in
${subsCase}
  esac
}
${fn}_opts() {
  case "$1" in
${optsCase}
  esac
}
${fn}_choices() {
  case "$1" in
${choiceCase}
    '__completion') echo ${quote(SHELLS.join(' '))} ;;
  esac
}
# The command path typed so far: the words that name commands and subcommands.
${fn}_path() {
  local cmdpath="" word subs
  for word in "$@"; do
    case "$word" in -*) continue ;; esac
    subs=" $(${fn}_subs "$cmdpath") "
    case "$subs" in *" $word "*) cmdpath="\${cmdpath:+$cmdpath }$word" ;; esac
  done
  echo "$cmdpath"
}`
  if (shell === 'bash') {
    return `# ${name} completion for bash. Load it with: source <(${name} completion bash)
${shared}
${fn}() {
  local cur="\${COMP_WORDS[COMP_CWORD]}" prev="\${COMP_WORDS[COMP_CWORD-1]}"
  local cmdpath words
  cmdpath="$(${fn}_path "\${COMP_WORDS[@]:1:COMP_CWORD-1}")"
  case " ${fileOptions.join(' ')} " in *" $prev "*) COMPREPLY=( $(compgen -f -- "$cur") ); return ;; esac
  words="$(${fn}_choices "$prev")"
  if [[ -n "$words" ]]; then COMPREPLY=( $(compgen -W "$words" -- "$cur") ); return; fi
  if [[ "$cmdpath" == completion ]]; then COMPREPLY=( $(compgen -W "$(${fn}_choices __completion)" -- "$cur") ); return; fi
  if [[ "$cur" == -* ]]; then
    COMPREPLY=( $(compgen -W "$(${fn}_opts "$cmdpath")" -- "$cur") )
  else
    words="$(${fn}_subs "$cmdpath")"
    if [[ -n "$words" ]]; then COMPREPLY=( $(compgen -W "$words" -- "$cur") ); else COMPREPLY=( $(compgen -f -- "$cur") ); fi
  fi
}
complete -F ${fn} ${name}
`
  }
  const described = nodes.map(n => `    ${quote(n.path)}) ${fn}_described=(${n.subcommands.map(s => quote(`${s.name}:${s.description.replace(/:/g, '\\:')}`)).join(' ')}) ;;`).join('\n')
  return `#compdef ${name}
# ${name} completion for zsh. Load it with: source <(${name} completion zsh)
${shared}
${fn}_describe() {
  case "$1" in
${described}
  esac
}
${fn}() {
  local cur="\${words[CURRENT]}" prev="\${words[CURRENT-1]}" cmdpath choices
  local -a ${fn}_described
  cmdpath="$(${fn}_path "\${(@)words[2,CURRENT-1]}")"
  case " ${fileOptions.join(' ')} " in *" $prev "*) _files; return ;; esac
  choices="$(${fn}_choices "$prev")"
  if [[ -n "$choices" ]]; then compadd -- \${=choices}; return; fi
  if [[ "$cmdpath" == completion ]]; then compadd -- \${=$(${fn}_choices __completion)}; return; fi
  if [[ "$cur" == -* ]]; then
    compadd -- \${=$(${fn}_opts "$cmdpath")}
  else
    ${fn}_describe "$cmdpath"
    if (( \${#${fn}_described} > 0 )); then _describe 'command' ${fn}_described; else _files; fi
  fi
}
if (( $+functions[compdef] )); then compdef ${fn} ${name}; fi
`
}
