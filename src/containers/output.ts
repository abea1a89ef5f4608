import { Writable } from 'node:stream';

const TAIL_BYTES = 2048;
const MAX_LINE = 8192;

/**
 * A sink for a command's stdout or stderr: splits it into lines for the log
 * (long lines are cut) and keeps only the last few KB for error messages, so
 * a chatty command never grows memory.
 */
export class OutputSink extends Writable {
  private partial = '';
  private tailBuf = '';
  private readonly onLine: (line: string) => void;

  constructor(onLine: (line: string) => void) {
    super({ decodeStrings: true });
    this.onLine = onLine;
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    const text = chunk.toString('utf8');
    this.tailBuf = (this.tailBuf + text).slice(-TAIL_BYTES);
    let data = this.partial + text;
    let nl: number;
    while ((nl = data.indexOf('\n')) >= 0) {
      this.emitLine(data.slice(0, nl));
      data = data.slice(nl + 1);
    }
    if (data.length > MAX_LINE) {
      this.emitLine(data);
      data = '';
    }
    this.partial = data;
    cb();
  }

  override _final(cb: (err?: Error | null) => void): void {
    this.flushPartial();
    cb();
  }

  /** Emit what is left without a trailing newline (call when the stream ended without `end()`). */
  flushPartial(): void {
    if (this.partial) this.emitLine(this.partial);
    this.partial = '';
  }

  private emitLine(line: string): void {
    const l = line.replace(/\r$/, '');
    this.onLine(l.length > MAX_LINE ? `${l.slice(0, MAX_LINE)}...` : l);
  }

  /** The last non-empty line or two of output, for an error message. */
  tail(): string {
    const lines = this.tailBuf
      .split('\n')
      .map((l) => l.trim())
      .filter(Boolean);
    return lines.slice(-3).join(' | ').slice(-500);
  }
}
