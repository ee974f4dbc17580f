// How the CLI words an error: a ConfigError about a setting given on the command line names the flag
// (--learning-rate, --no-header --column-names), not the config key or library option, and any other
// setting key its text mentions is shown as that key's flag too. Errors about a config file keep the
// file's own key names. Not here: the errors themselves (src/errors.ts) or exit codes (main.ts).

import { ConfigError } from '../errors.ts';

/** Config keys that a flag sets, for keys outside the train/search flag table. */
const EXTRA_FLAGS: Record<string, string> = {
  temperature: '--temperature',
  top_k: '--top-k',
  top_p: '--top-p',
  repetition_penalty: '--repetition-penalty',
  max_new_tokens: '--max-new-tokens',
  has_header: '--no-header',
};

/** A settings table's flag for each key: `--learning-rate <lr>` → learning_rate: '--learning-rate'. */
export function flagTable(settingFlags: readonly (readonly [string, string, string])[]): Record<string, string> {
  const out: Record<string, string> = { ...EXTRA_FLAGS };
  for (const [flag, key] of settingFlags) out[key] ??= /--[a-z0-9-]+/.exec(flag)![0];
  return out;
}

/**
 * The message the CLI prints for `err`: a ConfigError from the command line (or from no file) as
 * "--flag: detail", with snake_case setting names in the detail replaced by their flags.
 *
 * @example
 * cliMessage(new ConfigError('learning_rate', 'must be a number, got "fast" (from command line)'), flags);
 * // '--learning-rate: must be a number, got "fast"'
 */
export function cliMessage(err: Error, flags: Record<string, string>): string {
  if (!(err instanceof ConfigError)) return err.message;
  const detail = err.message.replace(/^config "[^"]*": /, '');
  const fromFile = /\((?:in|from) (?!command line\))[^)]+\)/.test(detail);
  const flag = flags[err.key];
  if (fromFile || flag === undefined) return err.message;
  const text = detail
    .replace(/ \((?:in|from) command line\)/g, '')
    // a bare setting name becomes its flag; a quoted one ("chat_template") names a file's key and stays
    .replace(/(?<!["\w])[a-z]+(?:_[a-z0-9]+)+(?![\w"])/g, (k) => flags[k] ?? k);
  return text.startsWith(flag) ? text : `${flag}: ${text}`;
}
