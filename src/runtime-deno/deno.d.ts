// The few Deno APIs the native Deno runtime uses, declared narrowly (as of Deno 2.9) so the project
// type-checks without Deno's own type package. Everything here exists in stable Deno 2.9 without
// --unstable flags; WebSocket's `client` option is typed at its one use (deno-dial.ts).

declare namespace Deno {
  const args: readonly string[];
  const pid: number;
  function exit(code?: number): never;
  function addSignalListener(signal: 'SIGTERM' | 'SIGINT' | 'SIGHUP', handler: () => void): void;

  interface FsFile {
    write(p: Uint8Array): Promise<number>;
    /** fdatasync(2). */
    syncData(): Promise<void>;
    /** fsync(2); on a directory, makes its entries (creations, renames) durable. */
    sync(): Promise<void>;
    truncate(len?: number): Promise<void>;
    /** flock(2) without waiting: false when another open file holds it. Released on close or death. */
    tryLock(exclusive?: boolean): Promise<boolean>;
    close(): void;
    readonly readable: ReadableStream<Uint8Array>;
  }
  interface OpenOptions {
    read?: boolean;
    write?: boolean;
    append?: boolean;
    truncate?: boolean;
    create?: boolean;
    createNew?: boolean;
    mode?: number;
  }
  function open(path: string, options?: OpenOptions): Promise<FsFile>;
  function readFile(path: string): Promise<Uint8Array>;
  function readTextFile(path: string): Promise<string>;
  function writeTextFile(path: string, data: string): Promise<void>;
  function rename(from: string, to: string): Promise<void>;
  function remove(path: string): Promise<void>;
  function mkdir(path: string, options?: { recursive?: boolean }): Promise<void>;
  function readDir(path: string): AsyncIterable<{ readonly name: string; readonly isFile: boolean }>;

  const stdin: { readonly readable: ReadableStream<Uint8Array> };
  const stderr: { writeSync(p: Uint8Array): number };
  const stdout: { writeSync(p: Uint8Array): number };

  namespace errors {
    class NotFound extends Error {}
  }

  interface NetAddr {
    readonly transport: 'tcp' | 'udp';
    readonly hostname: string;
    readonly port: number;
  }
  interface ServeHandlerInfo {
    readonly remoteAddr: NetAddr;
  }
  interface ServeOptions {
    port?: number;
    hostname?: string;
    signal?: AbortSignal;
    onListen?: (addr: NetAddr) => void;
    onError?: (error: unknown) => Response | Promise<Response>;
    /** PEM; both or neither: the server speaks TLS with them. */
    cert?: string;
    key?: string;
  }
  interface HttpServer {
    readonly finished: Promise<void>;
    readonly addr: NetAddr;
    shutdown(): Promise<void>;
  }
  function serve(options: ServeOptions, handler: (request: Request, info: ServeHandlerInfo) => Response | Promise<Response>): HttpServer;
  function upgradeWebSocket(request: Request, options?: { idleTimeout?: number }): { socket: WebSocket; response: Response };

  interface HttpClient {
    close(): void;
  }
  /** caCerts (PEM) are trusted beside the system's roots; cert + key (PEM) are presented as a client certificate. */
  function createHttpClient(options: { caCerts?: string[]; cert?: string; key?: string }): HttpClient;
}
