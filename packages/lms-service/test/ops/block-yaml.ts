/** A value of the YAML subset {@link parseBlockYaml} reads. */
export type YamlValue = string | YamlValue[] | { [key: string]: YamlValue };

interface Line {
  readonly indent: number;
  readonly text: string;
}

/**
 * Parses the block-style YAML subset docker-compose files and `docker-compose config` output use:
 * nested mappings and `- ` sequences by indentation, plain or quoted scalars (kept as strings),
 * continuation lines of a folded scalar. Flow collections (`[a, b]`), anchors and aliases are kept
 * as their raw text: enough to check names, ports and environment keys, not a general parser.
 */
export function parseBlockYaml(text: string): YamlValue {
  const lines: Line[] = [];
  for (const raw of text.split("\n")) {
    const withoutComment = raw.replace(/(^|\s)#.*$/, "");
    if (withoutComment.trim() === "") continue;
    lines.push({ indent: withoutComment.length - withoutComment.trimStart().length, text: withoutComment.trim() });
  }
  const position = { next: 0 };
  return lines.length === 0 ? {} : parseBlock(lines, position, lines[0].indent);
}

function parseBlock(lines: readonly Line[], position: { next: number }, indent: number): YamlValue {
  return lines[position.next].text.startsWith("- ") || lines[position.next].text === "-"
    ? parseSequence(lines, position, indent)
    : parseMapping(lines, position, indent);
}

function parseSequence(lines: readonly Line[], position: { next: number }, indent: number): YamlValue[] {
  const items: YamlValue[] = [];
  while (position.next < lines.length && lines[position.next].indent === indent) {
    const line = lines[position.next];
    if (!line.text.startsWith("-")) break;
    const rest = line.text.slice(1).trim();
    position.next++;
    if (rest === "") {
      items.push(parseChild(lines, position, indent));
    } else if (/^[^"'[{][^:]*:(\s|$)/.test(rest)) {
      // "- key: value" starts a mapping whose keys sit two columns right of the dash.
      const inner: Line[] = [{ indent: indent + 2, text: rest }];
      while (position.next < lines.length && lines[position.next].indent > indent) inner.push(lines[position.next++]);
      items.push(parseMapping(inner, { next: 0 }, indent + 2));
    } else {
      items.push(scalar(rest + continuation(lines, position, indent)));
    }
  }
  return items;
}

function parseMapping(
  lines: readonly Line[],
  position: { next: number },
  indent: number,
): { [key: string]: YamlValue } {
  const map: { [key: string]: YamlValue } = {};
  while (position.next < lines.length && lines[position.next].indent === indent) {
    const line = lines[position.next];
    const match = /^("[^"]*"|'[^']*'|[^:]+?):(?:\s+(.*))?$/.exec(line.text);
    if (match === null) throw new Error(`not a mapping entry: ${line.text}`);
    const key = scalar(match[1]);
    position.next++;
    const value = match[2];
    map[key] =
      value === undefined || value === ""
        ? parseChild(lines, position, indent)
        : scalar(value + continuation(lines, position, indent));
  }
  return map;
}

/** The nested block under a key or dash, or "" when nothing is nested (a sequence may sit at the same indent). */
function parseChild(lines: readonly Line[], position: { next: number }, indent: number): YamlValue {
  const next = lines[position.next];
  if (next === undefined) return "";
  if (next.indent > indent) return parseBlock(lines, position, next.indent);
  if (next.indent === indent && next.text.startsWith("- ")) return parseSequence(lines, position, indent);
  return "";
}

/** Lines of a folded scalar: deeper-indented lines that follow it. */
function continuation(lines: readonly Line[], position: { next: number }, indent: number): string {
  let text = "";
  while (position.next < lines.length && lines[position.next].indent > indent)
    text += ` ${lines[position.next++].text}`;
  return text;
}

function scalar(text: string): string {
  const trimmed = text.trim();
  if (trimmed.length >= 2 && trimmed.startsWith("'") && trimmed.endsWith("'"))
    return trimmed.slice(1, -1).replace(/''/g, "'");
  if (trimmed.length >= 2 && trimmed.startsWith('"') && trimmed.endsWith('"')) return JSON.parse(trimmed) as string;
  return trimmed;
}
