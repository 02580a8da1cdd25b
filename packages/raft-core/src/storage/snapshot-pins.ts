/**
 * Which snapshot file is the stored one, and which replaced files readers still hold. A file is
 * deleted once it is neither stored nor read: at once when it is replaced with no reader on it,
 * else when its last reader closes (rule 9: a snapshot being sent is pinned against compaction).
 */
export class SnapshotPins {
  /** Open readers per file name. */
  private readonly readers = new Map<string, number>();
  /** Replaced files that readers still hold. */
  private readonly retired = new Set<string>();

  constructor(private stored: string | undefined) {}

  /** Name of the stored snapshot's file, if any. */
  get storedFile(): string | undefined {
    return this.stored;
  }

  /** A reader opened on `name`. */
  pin(name: string): void {
    this.readers.set(name, (this.readers.get(name) ?? 0) + 1);
  }

  /**
   * A reader of `name` closed.
   * @returns `name` when it can be deleted now (replaced, and this was its last reader)
   */
  unpin(name: string): string | undefined {
    const count = (this.readers.get(name) ?? 0) - 1;
    if (count > 0) {
      this.readers.set(name, count);
      return undefined;
    }
    this.readers.delete(name);
    if (!this.retired.delete(name)) return undefined;
    return name;
  }

  /**
   * `name` is now the stored file.
   * @returns the previously stored file when it can be deleted now (no reader holds it)
   */
  replace(name: string): string | undefined {
    const previous = this.stored;
    this.stored = name;
    if (previous === undefined || previous === name) return undefined;
    if (this.readers.has(previous)) {
      this.retired.add(previous);
      return undefined;
    }
    return previous;
  }
}
