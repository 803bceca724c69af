import { CONFIG_SCHEMA, type VarSpec } from './schema.ts';

function defaultOf(spec: VarSpec): string {
  if (spec.defaultText) return spec.defaultText;
  if (spec.default !== undefined) return `\`${spec.default}\``;
  return spec.required ? '**required**' : '—';
}

function formOf(spec: VarSpec): string {
  const range =
    spec.min !== undefined ? ` (${spec.min}–${spec.max}${spec.kind === 'duration' ? ' s' : ''})` : '';
  if (spec.kind === 'enum') return spec.values!.map((v) => `\`${v}\``).join(' \\| ');
  return `${spec.kind}${range}`;
}

/** docs/configuration.md, rendered from the schema (a test fails when the file is stale). */
export function renderConfigurationDoc(): string {
  const groups = [...new Set(CONFIG_SCHEMA.map((spec) => spec.group))];
  const sections = groups.map((group) => {
    const rows = CONFIG_SCHEMA.filter((spec) => spec.group === group).map(
      (spec) =>
        `| \`${spec.name}\` | ${formOf(spec)} | ${defaultOf(spec)} | ${spec.description}${'secret' in spec && spec.secret ? ' *(secret: never logged)*' : ''} |`,
    );
    return `## ${group}\n\n| variable | form | default | meaning |\n|---|---|---|---|\n${rows.join('\n')}\n`;
  });
  return `<!-- Generated from config/schema.ts by \`npm run docs\`; do not edit by hand. -->
# Configuration

The agent (\`linkctl agent\`) reads its whole configuration from the environment at start. A bad
or missing value stops it at once with one line naming the variable and the expected form;
\`linkctl agent --check\` validates everything (and the environment) without changing anything.

Durations take LinK v2's Go-style form (\`500ms\`, \`2s\`, \`1m\`) or a bare number of seconds.
LinK v2's variables keep their names and meaning.

${sections.join('\n')}`;
}
