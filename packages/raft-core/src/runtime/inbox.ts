/**
 * The server's single FIFO of events (determinism contract: every outside completion enters one
 * queue and is handled in arrival order). Events posted while a batch is being handled wait for
 * the next batch, so one batch never grows while it is processed.
 *
 * Two arrays are swapped instead of shifting one, so taking a batch is O(1) and steady traffic
 * allocates nothing.
 */
export class Inbox<Event> {
  private incoming: Event[] = [];
  private spare: Event[] | undefined = [];

  /** Events waiting for the next batch. */
  get size(): number {
    return this.incoming.length;
  }

  push(event: Event): void {
    this.incoming.push(event);
  }

  /**
   * Takes every event posted so far, oldest first. Pass the array back to `recycle` once it has
   * been handled; an array that is never recycled is simply garbage collected.
   */
  takeAll(): Event[] {
    const batch = this.incoming;
    this.incoming = this.spare ?? [];
    this.spare = undefined;
    return batch;
  }

  /** Returns a handled batch for reuse. */
  recycle(batch: Event[]): void {
    batch.length = 0;
    this.spare = batch;
  }

  /** Forgets every waiting event (the server stopped). */
  clear(): void {
    this.incoming = [];
  }
}
