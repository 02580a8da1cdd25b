// The benches' in-process Transport for RaftServers sharing one process.

/**
 * Delivers messages by reference (no copy, no encoding), batched: everything sent during one turn
 * of the event loop is handed over in the next one (setImmediate), as a socket would, so storage
 * completions and timers interleave with message handling.
 */
export class InProcessNetwork {
  handlers = new Map();
  queue = [];
  scheduled = false;
  flush = () => {
    const batch = this.queue;
    this.queue = [];
    this.scheduled = false;
    for (const m of batch) this.handlers.get(m.to)?.onMessage(m);
  };
  endpoint(id) {
    return {
      start: (handler) => {
        this.handlers.set(id, handler);
      },
      send: (m) => {
        this.queue.push(m);
        if (!this.scheduled) {
          this.scheduled = true;
          setImmediate(this.flush);
        }
      },
      stop: async () => {
        this.handlers.delete(id);
      },
    };
  }
}
