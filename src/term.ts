/**
 * The terminal's one self-rewriting status line (progress), kept at the bottom:
 * every other line written while it shows first clears it, then redraws it,
 * so log lines are never written into the progress line.
 */
import { writeSync } from 'node:fs';

class StatusLine {
  private text = '';
  private readonly out: NodeJS.WriteStream;
  constructor(out: NodeJS.WriteStream) {
    this.out = out;
  }

  get active(): boolean {
    return this.text !== '';
  }

  /** Show (or replace) the status line. */
  set(text: string): void {
    this.text = text;
    this.out.write(`\r\x1b[K${text}`);
  }

  /** Remove the status line. */
  clear(): void {
    if (!this.text) return;
    this.text = '';
    this.out.write('\r\x1b[K');
  }

  /** Write whole lines above the status line. */
  above(write: () => void): void {
    if (!this.text) {
      write();
      return;
    }
    this.out.write('\r\x1b[K');
    write();
    this.out.write(this.text);
  }
}

export const statusLine = new StatusLine(process.stderr);

/** Write to a file descriptor above the status line (1 and 2 go through the process streams). */
export function writeAbove(fd: number, s: string): void {
  statusLine.above(() => {
    if (fd === 1) process.stdout.write(s);
    else if (fd === 2) process.stderr.write(s);
    else writeSync(fd, s);
  });
}
