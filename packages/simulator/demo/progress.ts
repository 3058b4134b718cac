/** A one-line progress bar on a TTY; a few plain lines otherwise (CI logs, pipes). */
export class Progress {
  #lastPlain = -1;
  constructor(
    readonly label: string,
    readonly totalMs: number,
    readonly stream: NodeJS.WriteStream = process.stdout,
  ) {}

  update(elapsedMs: number, ok: number, limited: number): void {
    const f = Math.min(1, elapsedMs / this.totalMs);
    const counts = `ok ${String(ok).padStart(4)}  429 ${String(limited).padStart(4)}`;
    if (this.stream.isTTY) {
      const width = 28;
      const done = Math.round(f * width);
      const bar = `${"█".repeat(done)}${"░".repeat(width - done)}`;
      const red = limited > 0 ? "\x1b[31m" : "\x1b[32m";
      this.stream.write(
        `\r  ${this.label.padEnd(22)} ${bar} ${(elapsedMs / 1000).toFixed(1).padStart(4)}s  ${counts.replace(/429 +\d+/, (m) => `${red}${m}\x1b[0m`)}`,
      );
      return;
    }
    const quarter = Math.floor(f * 4);
    if (quarter > this.#lastPlain) {
      this.#lastPlain = quarter;
      this.stream.write(`  ${this.label}: ${Math.round(f * 100)}%  ${counts}\n`);
    }
  }

  done(): void {
    if (this.stream.isTTY) this.stream.write("\n");
  }
}
