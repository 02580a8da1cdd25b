/** What ends a description that was cut (a single character, so the cut text keeps its bound). */
export const excerptEllipsis = "\u2026";

/**
 * `text` when it has at most `maxChars` characters (Unicode code points), else its first
 * `maxChars` - 1 followed by "…"; `maxChars` 0 means no bound. Cutting between code points never
 * splits a character's surrogate pair, so the excerpt is valid UTF-8 on the wire.
 *
 * @example descriptionExcerpt("Distributed systems, from Lamport to Raft", 12) // "Distributed…"
 */
export function descriptionExcerpt(text: string, maxChars: number): string {
  // Code points never outnumber UTF-16 units: a text short in units is short enough, without a walk.
  if (maxChars === 0 || text.length <= maxChars) return text;
  const characters = Array.from(text);
  if (characters.length <= maxChars) return text;
  return characters.slice(0, maxChars - 1).join("") + excerptEllipsis;
}

/** `item` with its description cut by {@link descriptionExcerpt} (the same object when it is short enough). */
export function withDescriptionExcerpt<T extends { readonly description: string }>(item: T, maxChars: number): T {
  const description = descriptionExcerpt(item.description, maxChars);
  return description === item.description ? item : { ...item, description };
}
