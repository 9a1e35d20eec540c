/**
 * Shell completion. `gaol completion bash|zsh` prints a small script whose function asks
 * `gaol __complete` for the candidates, so commands, options and their values come from the
 * command table and container handles from the server (1 s at most; nothing on failure).
 *
 * `__complete` protocol: `__complete bash LINE` (the command line up to the cursor) or
 * `__complete zsh WORD...` (the words after `gaol`, the last being completed). Output: one
 * candidate per line, after optional directive lines `:files` (also complete file names) and
 * `:nospace` (do not add a space after the candidate).
 */
import type { Completion, OptionSpec } from './args.js';
import { COMMANDS, type CommandSpec, commandOptions, findCommand, GLOBAL_OPTIONS } from './command-table.js';
import type { CommandContext } from './context.js';
import { ExitCode, UsageError } from './errors.js';
import { clientAddress, DEFAULT_TARGET, parseTarget } from './target.js';
import { splitCommandLine } from './values.js';

export interface CompletionResult {
  values: string[];
  /** Also complete file names. */
  files: boolean;
  /** No space after a candidate (it continues: `web:`). */
  nospace: boolean;
}

function optionNames(options: readonly OptionSpec[]): string[] {
  return options.map((o) => `--${o.long}`);
}

function findOption(options: readonly OptionSpec[], word: string): OptionSpec | undefined {
  if (word.startsWith('--')) return options.find((o) => o.long === word.slice(2));
  if (word.startsWith('-') && word.length === 2) return options.find((o) => o.short === word[1]);
  return undefined;
}

/**
 * The candidates for the last of `words` (the words after `gaol`).
 * @param handles lists the container handles (called only when they are wanted).
 */
export async function completeWords(
  words: readonly string[],
  handles: (target: string | undefined) => Promise<string[]>,
): Promise<CompletionResult> {
  const current = words.at(-1) ?? '';
  const before = words.slice(0, -1);
  let target: string | undefined;
  let cmd: CommandSpec | undefined;
  let positionals = 0;
  let passedThrough = false;
  let pendingValue: OptionSpec | undefined;

  for (const word of before) {
    const options = cmd ? commandOptions(cmd) : GLOBAL_OPTIONS;
    if (pendingValue) {
      if (pendingValue.long === 'target') target = word;
      pendingValue = undefined;
      continue;
    }
    if (!cmd) {
      const opt = findOption(options, word.split('=')[0] as string);
      if (opt) {
        if (opt.type === 'string' && !word.includes('=')) pendingValue = opt;
        else if (opt.long === 'target') target = word.slice(word.indexOf('=') + 1);
        continue;
      }
      cmd = findCommand(word);
      if (!cmd) return { values: [], files: false, nospace: false };
      continue;
    }
    if (passedThrough || (cmd.passThroughAfter !== undefined && positionals >= cmd.passThroughAfter)) {
      passedThrough = true;
      continue;
    }
    if (word.startsWith('-') && word !== '-') {
      const opt = findOption(options, word.split('=')[0] as string);
      if (opt?.type === 'string' && !word.includes('=')) pendingValue = opt;
      if (opt?.long === 'target' && word.includes('=')) target = word.slice(word.indexOf('=') + 1);
      continue;
    }
    positionals++;
  }

  const wanted = async (what: Completion | undefined, suffix = ''): Promise<CompletionResult> => {
    if (what === undefined) return { values: [], files: false, nospace: false };
    if (what === 'file') return { values: [], files: true, nospace: false };
    const pool = what === 'handle' ? await handles(target) : [...what];
    return { values: pool.map((v) => v + suffix), files: false, nospace: suffix !== '' };
  };
  const filtered = (r: CompletionResult): CompletionResult => ({
    ...r,
    values: r.values.filter((v) => v.startsWith(current)),
  });

  if (pendingValue) return filtered(await wanted(pendingValue.complete));
  if (!cmd) {
    if (current.startsWith('-'))
      return filtered({
        values: [...optionNames(GLOBAL_OPTIONS), '--version'],
        files: false,
        nospace: false,
      });
    const names = COMMANDS.filter((c) => !c.hidden).flatMap((c) => [c.name, ...(c.aliases ?? [])]);
    return filtered({ values: names, files: false, nospace: false });
  }
  if (passedThrough || (cmd.passThroughAfter !== undefined && positionals >= cmd.passThroughAfter)) {
    return { values: [], files: true, nospace: false };
  }
  if (current.startsWith('-') && current !== '-') {
    return filtered({ values: optionNames(commandOptions(cmd)), files: false, nospace: false });
  }
  const spec = cmd.completeArgs?.[Math.min(positionals, (cmd.completeArgs?.length ?? 1) - 1)];
  if (cmd.name === 'cp') {
    // Either a host path or HANDLE:PATH.
    const containers = filtered(await wanted('handle', ':'));
    return { values: containers.values, files: true, nospace: containers.values.length > 0 };
  }
  return filtered(await wanted(spec));
}

/** The words after the last `gaol` in a bash command line (quotes honoured, the last may be ''). */
export function wordsOfLine(line: string): string[] {
  let words: string[];
  try {
    words = splitCommandLine(line, 'completion');
  } catch {
    // An open quote in the word being typed: complete what is inside it.
    words = splitCommandLine(line.replace(/(['"])([^'"]*)$/, '$2'), 'completion');
  }
  if (/\s$/.test(line) || line === '') words.push('');
  let start = 0;
  words.forEach((w, i) => {
    if (w === 'gaol' || w.endsWith('/gaol') || w.endsWith('/gaol.js')) start = i + 1;
  });
  return words.slice(start);
}

/** Renders a result for the shell; bash replaces only the part after the last `:` or `=`. */
export function renderCompletion(result: CompletionResult, current: string, shell: 'bash' | 'zsh'): string {
  const lines: string[] = [];
  if (result.files) lines.push(':files');
  const nospace = result.nospace || result.values.some((v) => v.endsWith(':'));
  if (nospace) lines.push(':nospace');
  const cut = shell === 'bash' ? Math.max(current.lastIndexOf(':'), current.lastIndexOf('=')) + 1 : 0;
  for (const v of result.values) lines.push(v.slice(cut));
  return lines.length > 0 ? `${lines.join('\n')}\n` : '';
}

async function listHandles(ctx: CommandContext, target: string | undefined): Promise<string[]> {
  try {
    const t = parseTarget(target ?? (ctx.io.env.GAOL_TARGET || DEFAULT_TARGET));
    const { createClient } = await import('@garden-ts/client');
    const client = createClient(clientAddress(t), { connectTimeout: 500 });
    return (await client.containers({}, { timeout: 1000 })).map((c) => c.handle);
  } catch {
    return [];
  }
}

/** The hidden `gaol __complete` command. */
export async function complete(ctx: CommandContext): Promise<number> {
  const [shell, ...rest] = ctx.args.rest;
  let words: string[];
  if (shell === 'bash') words = wordsOfLine(rest[0] ?? '');
  else if (shell === 'zsh') words = rest.length > 0 ? [...rest] : [''];
  else throw new UsageError('gaol __complete: expected bash LINE or zsh WORD...');
  const result = await completeWords(words, (target) => listHandles(ctx, target));
  ctx.io.stdout.write(renderCompletion(result, words.at(-1) ?? '', shell));
  return ExitCode.Ok;
}

const BASH = `# bash completion for gaol. Load it with: source <(gaol completion bash)
_gaol_complete() {
  local cur="\${COMP_WORDS[COMP_CWORD]}" line="\${COMP_LINE:0:COMP_POINT}" reply c
  local -a candidates=()
  local files=0 nospace=0
  reply=$("\${COMP_WORDS[0]}" __complete bash "$line" 2>/dev/null) || return 0
  while IFS= read -r c; do
    case "$c" in
      :files) files=1 ;;
      :nospace) nospace=1 ;;
      *) [ -n "$c" ] && candidates+=("$c") ;;
    esac
  done <<< "$reply"
  case "$cur" in :|=) cur="" ;; esac
  COMPREPLY=("\${candidates[@]}")
  if [ "$files" = 1 ]; then
    # Quote file names (and add / to directories) only when no HANDLE: candidate is offered:
    # bash would escape its colon.
    [ "\${#candidates[@]}" = 0 ] && compopt -o filenames 2>/dev/null
    while IFS= read -r c; do [ -n "$c" ] && COMPREPLY+=("$c"); done < <(compgen -f -- "$cur")
  fi
  [ "$nospace" = 1 ] && compopt -o nospace 2>/dev/null
  return 0
}
complete -F _gaol_complete gaol
`;

const ZSH = `#compdef gaol
# zsh completion for gaol. Load it with: source <(gaol completion zsh)
# (or save it as _gaol in a directory of $fpath).
_gaol() {
  local -a reply candidates
  local files=0 nospace=0 c
  reply=("\${(@f)$("\${words[1]}" __complete zsh "\${(@)words[2,CURRENT]}" 2>/dev/null)}")
  for c in "\${reply[@]}"; do
    case "$c" in
      :files) files=1 ;;
      :nospace) nospace=1 ;;
      *) [[ -n "$c" ]] && candidates+=("$c") ;;
    esac
  done
  if (( nospace )); then
    compadd -S '' -- "\${candidates[@]}"
  else
    compadd -- "\${candidates[@]}"
  fi
  (( files )) && _files
  return 0
}
if [[ "\${zsh_eval_context[-1]}" == loadautofunc ]]; then
  _gaol "$@"
else
  compdef _gaol gaol
fi
`;

/** `gaol completion bash|zsh`. */
export async function completionScript(ctx: CommandContext): Promise<number> {
  const shell = ctx.positional(0, 'SHELL');
  if (shell === 'bash') ctx.io.stdout.write(BASH);
  else if (shell === 'zsh') ctx.io.stdout.write(ZSH);
  else throw new UsageError(`gaol completion: unknown shell "${shell}" (expected bash or zsh)`);
  return ExitCode.Ok;
}
