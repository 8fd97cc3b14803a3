/**
 * The terminal chat's input, read by one reader and routed: a line typed while an approval is
 * asked answers it; `/stop` typed while a reply runs stops that reply at once; every other line
 * waits its turn as the next message.
 */
export class LineRouter {
  #queue: string[] = [];
  #ended = false;
  #next: ((line: string | undefined) => void) | undefined;
  #answer: ((line: string | undefined) => void) | undefined;
  /** Called for `/stop` while `running` is true. */
  onStop: () => void = () => {};
  running = false;

  constructor(source: AsyncIterable<string>) {
    void this.#pump(source);
  }

  /** The next message line; undefined at the end of input. */
  next(): Promise<string | undefined> {
    const queued = this.#queue.shift();
    if (queued !== undefined) return Promise.resolve(queued);
    if (this.#ended) return Promise.resolve(undefined);
    return new Promise((resolve) => (this.#next = resolve));
  }

  /** The next line typed (or already typed ahead), as the answer to a question (an approval). */
  answer(): Promise<string | undefined> {
    const ahead = this.#queue.shift();
    if (ahead !== undefined) return Promise.resolve(ahead);
    if (this.#ended) return Promise.resolve(undefined);
    return new Promise((resolve) => (this.#answer = resolve));
  }

  async #pump(source: AsyncIterable<string>): Promise<void> {
    for await (const line of source) this.#route(line);
    this.#ended = true;
    this.#take("answer")?.(undefined);
    this.#take("next")?.(undefined);
  }

  #route(line: string): void {
    const answer = this.#take("answer");
    if (answer) return answer(line);
    if (this.running && line.trim() === "/stop") return this.onStop();
    const next = this.#take("next");
    if (next) next(line);
    else this.#queue.push(line);
  }

  #take(which: "next" | "answer"): ((line: string | undefined) => void) | undefined {
    const fn = which === "next" ? this.#next : this.#answer;
    if (which === "next") this.#next = undefined;
    else this.#answer = undefined;
    return fn;
  }
}
