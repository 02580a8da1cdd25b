/**
 * The replicated session table of thesis §6.3: one session per registered client, holding the
 * results of its recent commands so a retried command gets its first result instead of a second
 * application. Pure bookkeeping; `SessionStateMachine` decides what to do with each entry.
 *
 * Every decision depends only on the entries applied, never on the local clock: time is "log
 * time", the largest timestamp seen in applied entries, so it never goes backwards and every
 * replica expires the same sessions at the same index.
 */

/** One client's session. `Slot` is where a command's result is kept (see `SessionStateMachine`). */
export interface ClientSession<Slot> {
  /** The log index of the client's RegisterClient entry. */
  readonly clientId: number;
  /** Log time of the session's last command or keep-alive (or its registration). */
  lastActivityMs: number;
  /**
   * The lowest sequence that may still be applied for the first time. Sequences below it were
   * acknowledged by the client or had their result evicted; if not cached they are refused.
   * Invariant: every cached sequence is >= floor; floor never decreases.
   */
  floor: number;
  /** Cached results by sequence; at most `maxCachedResultsPerClient`. */
  readonly results: Map<number, Slot>;
}

/**
 * Sessions in order of last activity, least recent first. A JavaScript Map iterates in insertion
 * order, and a touched session is re-inserted at the end with the current log time, which never
 * decreases: so the order is by `lastActivityMs`, and expiry and LRU eviction look only at the
 * front.
 */
export class SessionTable<Slot> {
  private readonly sessions = new Map<number, ClientSession<Slot>>();
  private logTime = 0;

  /** The largest timestamp seen so far (log time). */
  get logTimeMs(): number {
    return this.logTime;
  }

  get size(): number {
    return this.sessions.size;
  }

  /** Moves log time to `timestampMs` if that is later; an earlier stamp changes nothing. */
  advanceTime(timestampMs: number): void {
    if (timestampMs > this.logTime) this.logTime = timestampMs;
  }

  /** Removes every session idle for more than `timeoutMs` of log time; returns how many. */
  expireIdle(timeoutMs: number): number {
    let expired = 0;
    for (const session of this.sessions.values()) {
      if (this.logTime - session.lastActivityMs <= timeoutMs) break;
      this.sessions.delete(session.clientId);
      expired++;
    }
    return expired;
  }

  /**
   * Opens a session for `clientId` at the current log time, evicting the least recently active
   * sessions beyond `maxSessions`.
   * @throws Error when the id is taken (a client id is a log index, so this is a bug).
   */
  register(clientId: number, maxSessions: number): ClientSession<Slot> {
    if (this.sessions.has(clientId)) throw new Error(`session table: client id ${clientId} is already registered`);
    const session: ClientSession<Slot> = { clientId, lastActivityMs: this.logTime, floor: 1, results: new Map() };
    this.sessions.set(clientId, session);
    while (this.sessions.size > maxSessions) {
      const oldest = this.sessions.keys().next().value as number;
      this.sessions.delete(oldest);
    }
    return session;
  }

  get(clientId: number): ClientSession<Slot> | undefined {
    return this.sessions.get(clientId);
  }

  /** Records activity now: the session moves to the most-recent end. */
  touch(session: ClientSession<Slot>): void {
    session.lastActivityMs = this.logTime;
    this.sessions.delete(session.clientId);
    this.sessions.set(session.clientId, session);
  }

  /** The client has every result below `lowestUnacked`: drop them and raise the floor. */
  acknowledge(session: ClientSession<Slot>, lowestUnacked: number): void {
    if (lowestUnacked <= session.floor) return;
    session.floor = lowestUnacked;
    for (const sequence of session.results.keys()) {
      if (sequence < lowestUnacked) session.results.delete(sequence);
    }
  }

  /**
   * Caches the result slot of a newly applied `sequence`; beyond `maxResults` the lowest cached
   * sequences are evicted and the floor rises past them, so they can never be applied again.
   */
  remember(session: ClientSession<Slot>, sequence: number, slot: Slot, maxResults: number): void {
    session.results.set(sequence, slot);
    while (session.results.size > maxResults) {
      let lowest = Number.POSITIVE_INFINITY;
      for (const cached of session.results.keys()) if (cached < lowest) lowest = cached;
      session.results.delete(lowest);
      if (lowest + 1 > session.floor) session.floor = lowest + 1;
    }
  }

  /** Every session, least recently active first (the order snapshots keep). */
  list(): readonly ClientSession<Slot>[] {
    return [...this.sessions.values()];
  }

  /**
   * Replaces the whole table (restore). `sessions` must be in least-recently-active-first order
   * with distinct ids; the caller has validated them.
   */
  replace(logTimeMs: number, sessions: readonly ClientSession<Slot>[]): void {
    this.sessions.clear();
    for (const session of sessions) this.sessions.set(session.clientId, session);
    this.logTime = logTimeMs;
  }
}
