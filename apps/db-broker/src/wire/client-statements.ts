/**
 * A wire client's named prepared statements, by the name the client gave them. Clients
 * bind the same few statements transaction after transaction, so the name bytes of the
 * last lookup are kept: a Bind naming them again finds its statement without decoding a
 * string and hashing it. Every change of the map forgets them.
 */
export class ClientStatements<T> {
  private readonly byName = new Map<string, T>();
  /** A copy of the last name found by {@link getByBytes} (the message it came in is the client's chunk). */
  private lastName: Buffer | undefined;
  private lastFound: T | undefined;

  get(name: string): T | undefined {
    return this.byName.get(name);
  }

  /** The statement named by the UTF-8 bytes `buffer[start..end)`. */
  getByBytes(buffer: Buffer, start: number, end: number): T | undefined {
    const last = this.lastName;
    if (last !== undefined && last.length === end - start) {
      let same = true;
      for (let i = 0; i < last.length; i++) {
        if (last[i] !== buffer[start + i]) {
          same = false;
          break;
        }
      }
      if (same) return this.lastFound;
    }
    const found = this.byName.get(buffer.toString('utf8', start, end));
    if (found !== undefined) {
      this.lastName = Buffer.from(buffer.subarray(start, end));
      this.lastFound = found;
    }
    return found;
  }

  set(name: string, statement: T): void {
    this.forgetLast();
    this.byName.set(name, statement);
  }

  delete(name: string): boolean {
    this.forgetLast();
    return this.byName.delete(name);
  }

  clear(): void {
    this.forgetLast();
    this.byName.clear();
  }

  private forgetLast(): void {
    this.lastName = undefined;
    this.lastFound = undefined;
  }
}
