// setImmediate for Deno without Node's globals: a task that runs after the I/O events already
// queued, without the 4 ms clamp nested setTimeout(0) calls get. The mesh flushes its outbox this
// way, so the frames one turn of events produces leave together.

const queue: Array<() => void> = [];
let channel: MessageChannel | null = null;

export function setImmediateTask(f: () => void): void {
  if (channel === null) {
    channel = new MessageChannel();
    channel.port1.onmessage = () => {
      const run = queue.shift();
      run?.();
    };
  }
  queue.push(f);
  channel.port2.postMessage(null);
}
